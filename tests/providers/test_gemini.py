"""Gemini's generateContent protocol, end to end against a fake server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

import polyrelay
from fakeserver import Reply

FIXTURES = Path(__file__).parent / "fixtures" / "gemini"
MESSAGES = [{"role": "user", "content": "Write a story about a magic backpack."}]
KEY = "AIzaSyTESTKEY-abcdefghijklmnopqrstuv"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_current_weather", "description": "Get the current weather in a given location",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"],
                   "additionalProperties": False}}}


def fixture_json(name: str):
    return json.loads((FIXTURES / name).read_text())


def sse_fixture(name: str) -> list[bytes]:
    text = (FIXTURES / name).read_bytes()
    return [piece + b"\n\n" for piece in text.split(b"\n\n") if piece.strip()]


def chat(fake, **kwargs):
    kwargs.setdefault("messages", MESSAGES)
    return polyrelay.completion(model=kwargs.pop("model", "gemini/gemini-1.5-flash"), api_base=fake.url,
                                api_key=KEY, **kwargs)


def test_chat_request_and_response(fake):
    fake.reply(Reply(json=fixture_json("generate_content.json")))
    messages = [{"role": "system", "content": "You are a storyteller."}, *MESSAGES,
                {"role": "assistant", "content": "Once upon a time..."}, {"role": "user", "content": "Go on."}]
    response = chat(fake, messages=messages, temperature=0.5, top_p=0.9, max_tokens=100, stop="END", n=1, seed=3,
                    presence_penalty=0.1, frequency_penalty=0.2, safetySettings=[{"category": "X", "threshold": "Y"}])

    sent = fake.requests[0]
    assert (sent.method, sent.path, sent.query) == ("POST", "/v1beta/models/gemini-1.5-flash:generateContent", {})
    assert sent.headers["x-goog-api-key"] == KEY
    assert "authorization" not in sent.headers
    assert sent.json == {
        "systemInstruction": {"parts": [{"text": "You are a storyteller."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Write a story about a magic backpack."}]},
            {"role": "model", "parts": [{"text": "Once upon a time..."}]},
            {"role": "user", "parts": [{"text": "Go on."}]},
        ],
        "generationConfig": {"temperature": 0.5, "topP": 0.9, "candidateCount": 1, "seed": 3,
                             "presencePenalty": 0.1, "frequencyPenalty": 0.2, "maxOutputTokens": 100,
                             "stopSequences": ["END"]},
        "safetySettings": [{"category": "X", "threshold": "Y"}],  # provider-specific: passed through
    }
    assert response.object == "chat.completion"
    assert response.model == "gemini-1.5-flash"
    assert response.choices[0].message.content.startswith("In a realm of code and light")
    assert response.choices[0].finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (8, 18, 26)
    assert response._hidden_params["custom_llm_provider"] == "gemini"
    assert response._hidden_params.get("usage_estimated") is None


def test_env_key_and_base(fake, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("GEMINI_API_BASE", fake.url)
    fake.reply(Reply(json=fixture_json("generate_content.json")))
    polyrelay.completion(model="gemini/gemini-1.5-flash", messages=MESSAGES)
    assert fake.requests[0].headers["x-goog-api-key"] == KEY


def test_missing_key_for_default_base(monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GEMINI_API_BASE", raising=False)
    with pytest.raises(polyrelay.AuthenticationError):
        polyrelay.completion(model="gemini/gemini-1.5-flash", messages=MESSAGES)


def test_cached_and_thinking_tokens(fake):
    fake.reply(Reply(json=fixture_json("generate_content_cached_thinking.json")))
    response = chat(fake, model="gemini/gemini-2.5-flash")
    usage = response.usage
    assert usage.prompt_tokens == 2048  # includes the cached 1536
    assert usage.prompt_tokens_details.cached_tokens == 1536
    assert usage.completion_tokens == 101  # 1 answer + 100 thinking
    assert usage.completion_tokens_details.reasoning_tokens == 100
    assert usage.total_tokens == 2149
    assert response.id == "mAitaLmkHPPlz7IPvtfUqQ4"


def test_image_input_and_json_schema(fake):
    fake.reply(Reply(json=fixture_json("generate_content.json")))
    schema = {"type": "object", "properties": {"caption": {"type": "string"}}, "additionalProperties": False}
    chat(fake, messages=[{"role": "user", "content": [
        {"type": "text", "text": "Describe this."},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": "https://example.com/cat.jpg"},
    ]}], response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}})
    body = fake.requests[0].json
    assert body["contents"][0]["parts"] == [
        {"text": "Describe this."},
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"}},
    ]
    assert body["generationConfig"] == {"responseMimeType": "application/json",
                                        "responseSchema": {"type": "object", "properties": {"caption": {"type": "string"}}}}


def test_tool_call_and_tool_result_round_trip(fake):
    fake.reply(Reply(json=fixture_json("function_call.json")), Reply(json=fixture_json("generate_content.json")))
    response = chat(fake, tools=[WEATHER_TOOL], tool_choice="required")
    sent = fake.requests[0].json
    assert sent["tools"] == [{"functionDeclarations": [{
        "name": "get_current_weather", "description": "Get the current weather in a given location",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}]}]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.id.startswith("call_") and call.type == "function"
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_current_weather", {"location": "Boston, MA"})

    history = [*MESSAGES, choice.message.model_dump(exclude_none=True),
               {"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 22}'}]
    chat(fake, messages=history, tools=[WEATHER_TOOL],
         tool_choice={"type": "function", "function": {"name": "get_current_weather"}})
    sent = fake.requests[1].json
    assert sent["contents"][1:] == [
        {"role": "model", "parts": [{"functionCall": {"name": "get_current_weather", "args": {"location": "Boston, MA"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_current_weather",
                                                          "response": {"temperature": 22}}}]},
    ]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY",
                                                            "allowedFunctionNames": ["get_current_weather"]}}


def test_stream(fake):
    fake.reply(Reply(stream=sse_fixture("stream.sse"), piece_delay=0.01))
    chunks = list(chat(fake, stream=True))
    sent = fake.requests[0]
    assert sent.path == "/v1beta/models/gemini-1.5-flash:streamGenerateContent"
    assert sent.query == {"alt": ["sse"]}
    assert [c.choices[0].delta.content for c in chunks] == ["The", " sky is blue because of Rayleigh scattering.", None]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.object == "chat.completion.chunk" and c.usage is None for c in chunks)
    assert len({c.id for c in chunks}) == 1
    built = polyrelay.stream_chunk_builder(chunks)
    assert built.choices[0].message.content == "The sky is blue because of Rayleigh scattering."


def test_stream_include_usage(fake):
    fake.reply(Reply(stream=sse_fixture("stream.sse")))
    chunks = list(chat(fake, stream=True, stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.choices == []
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (9, 12, 21)
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_tool_call(fake):
    event = fixture_json("function_call.json")
    fake.reply(Reply(stream=[f"data: {json.dumps(event)}\n\n".encode()]))
    chunks = list(chat(fake, stream=True, tools=[WEATHER_TOOL]))
    piece = chunks[0].choices[0].delta.tool_calls[0]
    assert (piece.index, piece.function.name) == (0, "get_current_weather")
    assert json.loads(piece.function.arguments) == {"location": "Boston, MA"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    built = polyrelay.stream_chunk_builder(chunks)
    assert built.choices[0].message.tool_calls[0].id == piece.id


def test_blocked_prompt_is_content_policy_violation(fake):
    fake.reply(Reply(json=fixture_json("blocked_prompt.json")))
    with pytest.raises(polyrelay.ContentPolicyViolationError) as caught:
        chat(fake)
    assert "SAFETY" in caught.value.message
    assert isinstance(caught.value, openai.BadRequestError)


def test_safety_finish_without_text_is_content_policy_violation(fake):
    fake.reply(Reply(json={"candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": [
        {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True}]}]}))
    with pytest.raises(polyrelay.ContentPolicyViolationError) as caught:
        chat(fake)
    assert "HARM_CATEGORY_HARASSMENT" in caught.value.message


def test_safety_finish_after_text_is_content_filter_finish(fake):
    fake.reply(Reply(json={"candidates": [{"content": {"role": "model", "parts": [{"text": "Partial"}]},
                                           "finishReason": "RECITATION", "index": 0}]}))
    assert chat(fake).choices[0].finish_reason == "content_filter"


def test_max_tokens_finish_is_length(fake):
    body = fixture_json("generate_content.json")
    body["candidates"][0]["finishReason"] = "MAX_TOKENS"
    fake.reply(Reply(json=body))
    assert chat(fake).choices[0].finish_reason == "length"


@pytest.mark.parametrize(("status", "fixture", "cls", "code"), [
    (400, "error_invalid_argument.json", polyrelay.BadRequestError, "INVALID_ARGUMENT"),
    (400, "error_api_key.json", polyrelay.AuthenticationError, "INVALID_ARGUMENT"),
    (429, "error_resource_exhausted.json", polyrelay.RateLimitError, "RESOURCE_EXHAUSTED"),
])
def test_errors(fake, status, fixture, cls, code):
    fake.reply(Reply(status, json=fixture_json(fixture)))
    with pytest.raises(cls) as caught:
        chat(fake)
    exc = caught.value
    assert (exc.llm_provider, exc.model, exc.code) == ("gemini", "gemini-1.5-flash", code)
    assert KEY not in str(exc) and KEY not in exc.message


@pytest.mark.parametrize(("status", "cls"), [
    (403, polyrelay.PermissionDeniedError), (404, polyrelay.NotFoundError),
    (500, polyrelay.InternalServerError), (503, polyrelay.ServiceUnavailableError),
])
def test_error_statuses(fake, status, cls):
    fake.reply(Reply(status, json={"error": {"code": status, "message": f"failed with {KEY}", "status": "X"}}))
    with pytest.raises(cls) as caught:
        chat(fake)
    assert caught.value.status_code == status
    assert KEY not in str(caught.value)


def test_context_window_error(fake):
    fake.reply(Reply(400, json={"error": {"code": 400, "status": "INVALID_ARGUMENT", "message":
               "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."}}))
    with pytest.raises(polyrelay.ContextWindowExceededError):
        chat(fake)


def test_embeddings_single_and_batch(fake):
    fake.reply(Reply(json=fixture_json("embed_content.json")), Reply(json=fixture_json("batch_embed_contents.json")))
    one = polyrelay.embedding(model="gemini/text-embedding-004", input="hello", api_base=fake.url, api_key=KEY,
                              dimensions=4)
    assert fake.requests[0].path == "/v1beta/models/text-embedding-004:embedContent"
    assert fake.requests[0].json == {"model": "models/text-embedding-004", "content": {"parts": [{"text": "hello"}]},
                                     "outputDimensionality": 4}
    assert one.data[0].embedding[0] == pytest.approx(0.013168523)
    assert one.usage.prompt_tokens > 0 and one._hidden_params["usage_estimated"] is True

    two = polyrelay.embedding(model="gemini/text-embedding-004", input=["a", "b"], api_base=fake.url, api_key=KEY)
    assert fake.requests[1].path == "/v1beta/models/text-embedding-004:batchEmbedContents"
    assert [r["content"] for r in fake.requests[1].json["requests"]] == [{"parts": [{"text": "a"}]},
                                                                         {"parts": [{"text": "b"}]}]
    assert [d.index for d in two.data] == [0, 1]


def test_unsupported_param_is_named(fake):
    with pytest.raises(polyrelay.UnsupportedParamsError) as caught:
        chat(fake, logit_bias={"1": 1})
    assert caught.value.param == "logit_bias"
    fake.reply(Reply(json=fixture_json("generate_content.json")))
    chat(fake, logit_bias={"1": 1}, drop_params=True)
    assert "logit_bias" not in fake.requests[0].json
