"""Ollama's native /api/chat protocol (NDJSON streams), end to end against a fake server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import polyrelay
from fakeserver import Reply

FIXTURES = Path(__file__).parent / "fixtures" / "ollama"
MESSAGES = [{"role": "user", "content": "why is the sky blue?"}]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
TOOL = {"type": "function", "function": {"name": "get_current_weather", "description": "Get the weather",
                                         "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}
NDJSON = {"Content-Type": "application/x-ndjson"}


def fixture_json(name: str):
    return json.loads((FIXTURES / name).read_text())


def ndjson_lines(name: str) -> list[bytes]:
    return [line + b"\n" for line in (FIXTURES / name).read_bytes().splitlines() if line.strip()]


def chat(fake, **kwargs):
    kwargs.setdefault("messages", MESSAGES)
    return polyrelay.completion(model=kwargs.pop("model", "ollama/llama3"), api_base=fake.url, **kwargs)


def test_chat_request_and_response(fake):
    fake.reply(Reply(json=fixture_json("chat.json")))
    response = chat(fake, messages=[{"role": "system", "content": "Be brief."}, *MESSAGES], temperature=0.1,
                    top_p=0.5, seed=101, max_tokens=64, stop=["\n"], keep_alive="5m", options={"num_ctx": 4096})
    sent = fake.requests[0]
    assert (sent.method, sent.path) == ("POST", "/api/chat")
    assert "authorization" not in sent.headers
    assert sent.json == {
        "model": "llama3",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "why is the sky blue?"}],
        "stream": False,  # Ollama streams unless told not to
        "options": {"temperature": 0.1, "top_p": 0.5, "seed": 101, "num_predict": 64, "stop": ["\n"], "num_ctx": 4096},
        "keep_alive": "5m",
    }
    assert response.choices[0].message.content == "Hello! How are you today?"
    assert response.choices[0].finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (26, 298, 324)
    assert response.model == "llama3.2"
    assert response._hidden_params["custom_llm_provider"] == "ollama"


def test_default_base_and_env_base(fake, monkeypatch):
    monkeypatch.setenv("OLLAMA_API_BASE", fake.url)
    fake.reply(Reply(json=fixture_json("chat.json")))
    polyrelay.completion(model="ollama/llama3", messages=MESSAGES)
    assert fake.requests[0].path == "/api/chat"


def test_json_mode_schema_and_image(fake):
    fake.reply(Reply(json=fixture_json("chat.json")), Reply(json=fixture_json("chat.json")))
    chat(fake, response_format={"type": "json_object"}, messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is in this image?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}])
    body = fake.requests[0].json
    assert body["format"] == "json"
    assert body["messages"] == [{"role": "user", "content": "what is in this image?", "images": [PNG]}]
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}}
    chat(fake, response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})
    assert fake.requests[1].json["format"] == schema


def test_image_url_that_is_not_data_is_refused(fake):
    with pytest.raises(polyrelay.BadRequestError):
        chat(fake, messages=[{"role": "user", "content": [{"type": "image_url", "image_url": "https://x/y.png"}]}])


def test_tool_call_and_result(fake):
    fake.reply(Reply(json=fixture_json("chat_tools.json")), Reply(json=fixture_json("chat.json")))
    response = chat(fake, tools=[TOOL], tool_choice="auto")
    assert fake.requests[0].json["tools"] == [TOOL]
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_current_weather"
    assert json.loads(call.function.arguments) == {"format": "celsius", "location": "Paris, FR"}

    history = [*MESSAGES, choice.message.model_dump(exclude_none=True),
               {"role": "tool", "tool_call_id": call.id, "content": "22 degrees"}]
    chat(fake, messages=history, tools=[TOOL])
    sent = fake.requests[1].json["messages"]
    assert sent[1] == {"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "get_current_weather", "arguments": {"format": "celsius", "location": "Paris, FR"}}}]}
    assert sent[2] == {"role": "tool", "content": "22 degrees", "tool_name": "get_current_weather"}


def test_tool_choice_required_is_unsupported(fake):
    with pytest.raises(polyrelay.UnsupportedParamsError):
        chat(fake, tools=[TOOL], tool_choice="required")


def test_stream(fake):
    fake.reply(Reply(stream=ndjson_lines("chat_stream.ndjson"), headers=NDJSON, piece_delay=0.01))
    chunks = list(chat(fake, stream=True))
    assert fake.requests[0].json["stream"] is True
    assert [c.choices[0].delta.content for c in chunks] == ["The", " sky", " is blue.", None]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_stream_include_usage(fake):
    fake.reply(Reply(stream=ndjson_lines("chat_stream.ndjson"), headers=NDJSON))
    chunks = list(chat(fake, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].choices == []
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (26, 282)


def test_stream_split_across_reads(fake):
    whole = b"".join(ndjson_lines("chat_stream.ndjson"))
    fake.reply(Reply(stream=[whole[i:i + 7] for i in range(0, len(whole), 7)], headers=NDJSON))
    chunks = list(chat(fake, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "The sky is blue."


def test_stream_tool_call(fake):
    line = {"model": "llama3.2", "created_at": "2024-07-22T20:33:28Z", "message": {"role": "assistant", "content": "",
            "tool_calls": [{"function": {"name": "get_current_weather", "arguments": {"location": "Paris"}}}]},
            "done": False}
    last = {"model": "llama3.2", "created_at": "2024-07-22T20:33:29Z", "message": {"role": "assistant", "content": ""},
            "done": True, "done_reason": "stop", "prompt_eval_count": 10, "eval_count": 5}
    fake.reply(Reply(stream=[json.dumps(line).encode() + b"\n", json.dumps(last).encode() + b"\n"], headers=NDJSON))
    chunks = list(chat(fake, stream=True, tools=[TOOL]))
    piece = chunks[0].choices[0].delta.tool_calls[0]
    assert (piece.index, piece.function.name, json.loads(piece.function.arguments)) == (
        0, "get_current_weather", {"location": "Paris"})
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_stream_length_finish(fake):
    lines = ndjson_lines("chat_stream.ndjson")
    lines[-1] = lines[-1].replace(b'"done_reason":"stop"', b'"done_reason":"length"')
    fake.reply(Reply(stream=lines, headers=NDJSON))
    assert list(chat(fake, stream=True))[-1].choices[0].finish_reason == "length"


def test_stream_error_line_raises(fake):
    failure = b'{"error":"an error was encountered while running the model"}\n'
    fake.reply(Reply(stream=[ndjson_lines("chat_stream.ndjson")[0], failure], headers=NDJSON))
    with pytest.raises(polyrelay.InternalServerError) as caught:
        list(chat(fake, stream=True))
    assert "running the model" in caught.value.message


def test_cut_stream_raises(fake):
    fake.reply(Reply(stream=ndjson_lines("chat_stream.ndjson")[:2], headers=NDJSON))
    with pytest.raises(polyrelay.APIConnectionError):
        list(chat(fake, stream=True))


@pytest.mark.parametrize(("status", "message", "cls"), [
    (404, 'model "llama3" not found, try pulling it first', polyrelay.NotFoundError),
    (400, "invalid options", polyrelay.BadRequestError),
    (500, "llama runner process has terminated", polyrelay.InternalServerError),
])
def test_errors(fake, status, message, cls):
    fake.reply(Reply(status, json={"error": message}))
    with pytest.raises(cls) as caught:
        chat(fake)
    assert caught.value.message == message
    assert (caught.value.llm_provider, caught.value.status_code) == ("ollama", status)


def test_key_is_sent_and_never_in_errors(fake):
    key = "ollama-secret-key-1234567890"
    fake.reply(Reply(401, json={"error": f"unauthorized key {key}"}))
    with pytest.raises(polyrelay.AuthenticationError) as caught:
        chat(fake, api_key=key)
    assert fake.requests[0].headers["authorization"] == f"Bearer {key}"
    assert key not in str(caught.value)


def test_embeddings(fake):
    fake.reply(Reply(json=fixture_json("embed.json")))
    response = polyrelay.embedding(model="ollama/all-minilm", input=["Why is the sky blue?", "Why is grass green?"],
                                   api_base=fake.url)
    sent = fake.requests[0]
    assert (sent.path, sent.json) == ("/api/embed", {"model": "all-minilm",
                                                     "input": ["Why is the sky blue?", "Why is grass green?"]})
    assert len(response.data) == 2 and response.data[1].embedding[0] == pytest.approx(-0.0098027075)
    assert response.usage.prompt_tokens == 8
