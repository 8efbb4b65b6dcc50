"""Azure OpenAI, end to end against a fake server on 127.0.0.1.

Fixtures are the examples from Microsoft's Azure OpenAI documentation (see
fixtures/azure/README.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

import polyrelay
from fakeserver import Reply

FIXTURES = Path(__file__).parent / "fixtures" / "azure"
KEY = "0123456789abcdef0123456789abcdef"  # Azure keys are 32 hex digits
AD_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJjb2duaXRpdmUifQ.c2lnbmF0dXJl"
MODEL = "azure/my-gpt4o"
HELLO = [{"role": "user", "content": "Hello!"}]


def fixture_json(name: str):
    return json.loads((FIXTURES / name).read_text())


def fixture_stream(name: str, piece: int = 41) -> list[bytes]:
    body = (FIXTURES / name).read_bytes()
    return [body[i:i + piece] for i in range(0, len(body), piece)]


def chat(fake, **kwargs):
    kwargs.setdefault("messages", HELLO)
    kwargs.setdefault("api_key", KEY)
    return polyrelay.completion(model=kwargs.pop("model", MODEL), api_base=fake.url, **kwargs)


@pytest.fixture(autouse=True)
def no_azure_env(monkeypatch):
    for name in ("AZURE_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT",
                 "AZURE_API_VERSION"):
        monkeypatch.delenv(name, raising=False)


def test_chat_goes_to_the_deployment_url_with_api_key_header(fake):
    fake.reply(Reply(json=fixture_json("chat_completion.json")))
    response = chat(fake, temperature=0.2, max_tokens=50, seed=7)

    sent = fake.requests[0]
    assert (sent.method, sent.path) == ("POST", "/openai/deployments/my-gpt4o/chat/completions")
    assert sent.query == {"api-version": ["2024-10-21"]}
    assert sent.headers["api-key"] == KEY
    assert "authorization" not in sent.headers
    assert sent.headers["content-type"] == "application/json"
    assert sent.json == {"model": "my-gpt4o", "messages": HELLO, "temperature": 0.2, "max_tokens": 50, "seed": 7}

    assert response.object == "chat.completion"
    assert response.id == "chatcmpl-7R1nGnsXO8n4oi9UPz2f3UHdgAYMn"
    assert response.choices[0].message.content.startswith("Did you know that Azure OpenAI")
    assert response.choices[0].finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (
        33, 557, 590)
    # Azure's annotations are kept, not dropped.
    assert response.model_dump()["prompt_filter_results"][0]["prompt_index"] == 0
    assert response._hidden_params["custom_llm_provider"] == "azure"


def test_env_variables_supply_key_base_and_version(fake, monkeypatch):
    monkeypatch.setenv("AZURE_API_KEY", KEY)
    monkeypatch.setenv("AZURE_API_BASE", fake.url + "/")
    monkeypatch.setenv("AZURE_API_VERSION", "2024-06-01")
    fake.reply(Reply(json=fixture_json("chat_completion.json")))
    polyrelay.completion(model=MODEL, messages=HELLO)
    sent = fake.requests[0]
    assert sent.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert sent.query == {"api-version": ["2024-06-01"]}
    assert sent.headers["api-key"] == KEY


def test_api_version_argument_and_endpoint_with_openai_suffix(fake):
    fake.reply(Reply(json=fixture_json("chat_completion.json")))
    polyrelay.completion(model=MODEL, messages=HELLO, api_key=KEY, api_base=fake.url + "/openai/",
                         api_version="2024-08-01-preview")
    sent = fake.requests[0]
    assert sent.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert sent.query == {"api-version": ["2024-08-01-preview"]}


def test_azure_ad_token_is_a_bearer_header_never_a_body_field(fake):
    fake.reply(Reply(json=fixture_json("chat_completion.json")))
    chat(fake, api_key=None, azure_ad_token=AD_TOKEN)
    sent = fake.requests[0]
    assert sent.headers["authorization"] == f"Bearer {AD_TOKEN}"
    assert "api-key" not in sent.headers
    assert "azure_ad_token" not in sent.json


def test_azure_ad_token_never_appears_in_error_messages(fake):
    fake.reply(Reply(401, json={"error": {"code": "401", "message": f"Token {AD_TOKEN} is expired"}}))
    with pytest.raises(polyrelay.AuthenticationError) as caught:
        chat(fake, api_key=None, azure_ad_token=AD_TOKEN)
    assert AD_TOKEN not in str(caught.value)
    assert AD_TOKEN not in json.dumps(caught.value.body)


def test_missing_endpoint_or_credential_fails_before_any_call(fake):
    with pytest.raises(polyrelay.BadRequestError, match="AZURE_API_BASE"):
        polyrelay.completion(model=MODEL, messages=HELLO, api_key=KEY)
    with pytest.raises(polyrelay.AuthenticationError, match="AZURE_API_KEY"):
        polyrelay.completion(model=MODEL, messages=HELLO, api_base=fake.url)
    assert fake.requests == []


def test_tool_calls_pass_through(fake):
    answer = fixture_json("chat_completion.json")
    answer["choices"][0]["finish_reason"] = "tool_calls"
    answer["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_abc", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"location\":\"Boston\"}"}}]}
    fake.reply(Reply(json=answer))
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    response = chat(fake, tools=[tool], tool_choice="auto")
    assert fake.requests[0].json["tools"] == [tool]
    assert fake.requests[0].json["tool_choice"] == "auto"
    [call] = response.choices[0].message.tool_calls
    assert (call.id, call.function.name, call.function.arguments) == (
        "call_abc", "get_weather", "{\"location\":\"Boston\"}")
    assert response.choices[0].finish_reason == "tool_calls"


def test_text_completion_and_embeddings_use_their_deployment_paths(fake):
    completion = {"id": "cmpl-1", "object": "text_completion", "created": 1686676106, "model": "gpt-35-turbo-instruct",
                  "choices": [{"index": 0, "text": " there", "logprobs": None, "finish_reason": "stop"}],
                  "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    fake.reply(Reply(json=completion), Reply(json=fixture_json("embeddings.json")))
    text = polyrelay.text_completion(model="azure/my-instruct", prompt="Hi", api_base=fake.url, api_key=KEY)
    vectors = polyrelay.embedding(model="azure/my-ada", input=["Hello"], api_base=fake.url, api_key=KEY)
    assert [r.path for r in fake.requests] == ["/openai/deployments/my-instruct/completions",
                                               "/openai/deployments/my-ada/embeddings"]
    assert fake.requests[1].json == {"model": "my-ada", "input": ["Hello"]}
    assert text.choices[0].text == " there"
    assert vectors.data[0].embedding[:1] == [0.018990106880664825]
    assert vectors.usage.prompt_tokens == 4


# -- streaming -------------------------------------------------------------------


def test_stream_skips_prompt_filter_and_annotation_frames(fake):
    fake.reply(Reply(stream=fixture_stream("chat_stream.txt")))
    chunks = list(chat(fake, stream=True))

    sent = fake.requests[0].json
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}  # asked upstream for exact cost
    # role, "Hello", "!", finish: no prompt-filter frame, no annotation-only frame
    assert len(chunks) == 4
    assert all(c.id == "chatcmpl-A9zN1Lx2example" for c in chunks)  # never the filter frame's empty id
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello!"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_stream_with_include_usage_reports_usage_once_at_the_end(fake):
    fake.reply(Reply(stream=fixture_stream("chat_stream.txt")))
    chunks = list(chat(fake, stream=True, stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.choices == []
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (9, 2, 11)
    assert last.usage.prompt_tokens_details.cached_tokens == 0
    assert all(c.usage is None for c in chunks[:-1])
    assert sum(1 for c in chunks if not c.choices) == 1  # the prompt-filter frame is not a usage chunk


def test_stream_tool_call_deltas(fake):
    def frame(delta, finish=None):
        return {"id": "chatcmpl-t", "object": "chat.completion.chunk", "created": 1727000000, "model": "gpt-4o",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    events = [
        {"choices": [], "created": 0, "id": "", "model": "", "object": "", "prompt_filter_results": []},
        frame({"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
        frame({"tool_calls": [{"index": 0, "function": {"arguments": "{\"location\":"}}]}),
        frame({"tool_calls": [{"index": 0, "function": {"arguments": "\"Boston\"}"}}]}),
        frame({}, "tool_calls"),
    ]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    fake.reply(Reply(stream=[body.encode()]))
    chunks = list(chat(fake, stream=True))
    rebuilt = polyrelay.stream_chunk_builder(chunks)
    [call] = rebuilt.choices[0].message.tool_calls
    assert (call.id, call.function.name, call.function.arguments) == (
        "call_1", "get_weather", "{\"location\":\"Boston\"}")
    assert rebuilt.choices[0].finish_reason == "tool_calls"


# -- errors --------------------------------------------------------------------


def test_content_filter_refusal_is_content_policy_violation(fake):
    body = fixture_json("error_content_filter.json")
    fake.reply(Reply(400, json=body))
    with pytest.raises(polyrelay.ContentPolicyViolationError) as caught:
        chat(fake)
    exc = caught.value
    assert isinstance(exc, openai.BadRequestError)
    assert (exc.status_code, exc.llm_provider, exc.model) == (400, "azure", "my-gpt4o")
    assert exc.message.startswith("The response was filtered")
    assert exc.body["error"]["innererror"]["content_filter_result"]["hate"]["filtered"] is True


def test_inner_responsible_ai_code_alone_is_enough(fake):
    body = {"error": {"code": "BadRequest", "message": "The request was refused.",
                      "innererror": {"code": "ResponsibleAIPolicyViolation"}}}
    fake.reply(Reply(400, json=body))
    with pytest.raises(polyrelay.ContentPolicyViolationError):
        chat(fake)


@pytest.mark.parametrize("case, status, cls", [
    ("401", 401, polyrelay.AuthenticationError),
    ("404", 404, polyrelay.NotFoundError),
    ("429", 429, polyrelay.RateLimitError),
    ("400-context", 400, polyrelay.ContextWindowExceededError),
])
def test_error_bodies_map_to_error_classes(fake, case, status, cls):
    body = fixture_json("errors.json")[case]
    fake.reply(Reply(status, json=body, headers={"retry-after": "6"} if status == 429 else {}))
    with pytest.raises(cls) as caught:
        chat(fake)
    exc = caught.value
    assert (exc.status_code, exc.llm_provider) == (status, "azure")
    assert exc.message == body["error"]["message"]
    assert KEY not in str(exc)
    if status == 429:
        assert exc.headers["retry-after"] == "6"


def test_api_key_never_appears_in_error_messages(fake):
    fake.reply(Reply(401, json={"error": {"code": "401", "message": f"Access denied for key {KEY}."}}))
    with pytest.raises(polyrelay.AuthenticationError) as caught:
        chat(fake)
    assert KEY not in str(caught.value)
    assert KEY not in caught.value.message
