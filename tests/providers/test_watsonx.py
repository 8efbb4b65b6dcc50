"""IBM watsonx.ai (``watsonx/``) against a fake IAM token endpoint and a fake
watsonx.ai server speaking /ml/v1/text/chat, chat_stream and embeddings."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs

import openai
import pytest

import polyrelay
from fakeserver import FakeServer, Reply
from polyrelay.providers import watsonx

APIKEY = "ibmcloud-apikey-0123456789abcdefXYZ"
IAM_TOKEN = "eyJraWQiOiIyMDI1.iam-access-token-abcdef123456"
PROJECT = "6f0b1c2d-aaaa-bbbb-cccc-0123456789ab"
MESSAGES = [{"role": "user", "content": "Hello"}]
CHAT_ANSWER = {
    "id": "chatcmpl-8a1b", "model_id": "ibm/granite-3-8b-instruct", "model": "ibm/granite-3-8b-instruct",
    "created": 1733200000, "model_version": "1.1.0", "created_at": "2026-12-03T06:00:00.000Z",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi! How can I help?"},
                 "finish_reason": "stop"}],
    "usage": {"completion_tokens": 7, "prompt_tokens": 12, "total_tokens": 19},
}


@pytest.fixture
def iam(monkeypatch):
    server = FakeServer().start()
    server.responder = lambda request: Reply(json={
        "access_token": IAM_TOKEN, "refresh_token": "not_supported", "token_type": "Bearer", "expires_in": 3600,
        "expiration": int(time.time()) + 3600, "scope": "ibm openid"})
    monkeypatch.setenv("WATSONX_IAM_URL", server.url + "/identity/token")
    monkeypatch.setattr(watsonx, "_TOKENS", {})
    for name in ("WATSONX_TOKEN", "WATSONX_PROJECT_ID", "WATSONX_URL", "WATSONX_APIKEY", "WATSONX_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    yield server
    server.stop()


def chat(fake, **kwargs):
    kwargs.setdefault("messages", MESSAGES)
    kwargs.setdefault("project_id", PROJECT)
    return polyrelay.completion(model=kwargs.pop("model", "watsonx/ibm/granite-3-8b-instruct"), api_base=fake.url,
                                api_key=APIKEY, **kwargs)


def test_chat_exchanges_the_api_key_and_caches_the_token(fake, iam):
    fake.default = Reply(json=CHAT_ANSWER)
    response = chat(fake, temperature=0.3, max_completion_tokens=50, tool_choice="auto",
                    tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
    exchange = iam.requests[0]
    assert (exchange.method, exchange.path) == ("POST", "/identity/token")
    assert exchange.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(exchange.body.decode()) == {"grant_type": ["urn:ibm:params:oauth:grant-type:apikey"],
                                                "apikey": [APIKEY]}
    sent = fake.requests[0]
    assert (sent.path, sent.query) == ("/ml/v1/text/chat", {"version": ["2024-03-13"]})
    assert sent.headers["authorization"] == f"Bearer {IAM_TOKEN}"
    assert sent.json == {"model_id": "ibm/granite-3-8b-instruct", "project_id": PROJECT, "messages": MESSAGES,
                         "temperature": 0.3, "max_tokens": 50, "tool_choice_option": "auto",
                         "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]}
    assert response.choices[0].message.content == "Hi! How can I help?"
    assert response.model == "ibm/granite-3-8b-instruct"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (12, 7, 19)
    # granite-3-8b-instruct: $0.20 per 1M tokens in and out.
    assert response._hidden_params["response_cost"] == pytest.approx(19 * 0.2e-6)
    chat(fake)
    chat(fake)
    assert len(iam.requests) == 1  # one exchange, then the cached token


def test_token_close_to_expiry_is_exchanged_again(fake, iam):
    iam.responder = lambda request: Reply(json={"access_token": "short-lived-token-1234567", "token_type": "Bearer",
                                                "expires_in": 60, "expiration": int(time.time()) + 60})
    fake.default = Reply(json=CHAT_ANSWER)
    chat(fake)
    chat(fake)
    assert len(iam.requests) == 2


def test_given_token_and_env(fake, iam, monkeypatch):
    monkeypatch.setenv("WATSONX_URL", fake.url)
    monkeypatch.setenv("WATSONX_TOKEN", "cpd-bearer-token-0987654321")
    monkeypatch.setenv("WATSONX_PROJECT_ID", PROJECT)
    fake.reply(Reply(json=CHAT_ANSWER))
    polyrelay.completion(model="watsonx/ibm/granite-3-8b-instruct", messages=MESSAGES)
    assert fake.requests[0].headers["authorization"] == "Bearer cpd-bearer-token-0987654321"
    assert fake.requests[0].json["project_id"] == PROJECT
    assert iam.requests == []  # no exchange with a ready token


def test_deployment_and_space(fake, iam):
    fake.reply(Reply(json=CHAT_ANSWER))
    polyrelay.completion(model="watsonx/deployment/dep-42", messages=MESSAGES, api_base=fake.url, api_key=APIKEY,
                         space_id="space-1")
    sent = fake.requests[0]
    assert sent.path == "/ml/v1/deployments/dep-42/text/chat"
    assert "model_id" not in sent.json and "space_id" not in sent.json and "project_id" not in sent.json


def test_stream(fake, iam):
    events = [
        {"id": "c1", "model_id": "ibm/granite-3-8b-instruct", "created": 1733200000,
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        {"id": "c1", "model_id": "ibm/granite-3-8b-instruct", "created": 1733200000,
         "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]},
        {"id": "c1", "model_id": "ibm/granite-3-8b-instruct", "created": 1733200000,
         "choices": [{"index": 0, "delta": {"content": " there"}, "finish_reason": "stop"}],
         "usage": {"completion_tokens": 3, "prompt_tokens": 12, "total_tokens": 15}},
    ]
    fake.reply(Reply(stream=[f"id: {i}\nevent: message\ndata: {json.dumps(e)}\n\n".encode()
                             for i, e in enumerate(events, 1)]))
    chunks = list(chat(fake, stream=True, stream_options={"include_usage": True}))
    sent = fake.requests[0]
    assert sent.path == "/ml/v1/text/chat_stream" and sent.headers["accept"] == "text/event-stream"
    assert "stream" not in sent.json
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hi there"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (12, 3)


def test_embeddings(fake, iam):
    fake.reply(Reply(json={"model_id": "ibm/slate-125m-english-rtrvr", "results": [
        {"embedding": [0.1, 0.2]}, {"embedding": [0.3, 0.4]}], "created_at": "2026-12-03T06:00:00Z",
        "input_token_count": 9}))
    response = polyrelay.embedding(model="watsonx/ibm/slate-125m-english-rtrvr", input=["a b", "c d e"],
                                   api_base=fake.url, api_key=APIKEY, project_id=PROJECT)
    sent = fake.requests[0]
    assert sent.path == "/ml/v1/text/embeddings"
    assert sent.json == {"model_id": "ibm/slate-125m-english-rtrvr", "project_id": PROJECT, "inputs": ["a b", "c d e"]}
    assert [d["embedding"] for d in response.data] == [[0.1, 0.2], [0.3, 0.4]]
    assert response.usage.prompt_tokens == 9


@pytest.mark.parametrize(("status", "code", "cls"), [
    (400, "json_validation_error", openai.BadRequestError),
    (401, "authentication_token_expired", openai.AuthenticationError),
    (403, "authorization_rejected", openai.PermissionDeniedError),
    (404, "model_not_supported", openai.NotFoundError),
    (429, "too_many_requests", openai.RateLimitError),
    (500, "internal_error", openai.InternalServerError),
])
def test_error_bodies(fake, iam, status, code, cls):
    fake.reply(Reply(status, json={"errors": [{"code": code, "message": f"failed for Bearer {IAM_TOKEN}",
                                               "more_info": "https://cloud.ibm.com/apidocs/watsonx-ai"}],
                                   "trace": "3f0a", "status_code": status}))
    with pytest.raises(cls) as caught:
        chat(fake)
    exc = caught.value
    assert exc.status_code == status and exc.llm_provider == "watsonx" and exc.code == code
    assert IAM_TOKEN not in str(exc) and APIKEY not in str(exc) and IAM_TOKEN not in json.dumps(exc.body)


def test_context_window_error(fake, iam):
    fake.reply(Reply(400, json={"errors": [{"code": "invalid_input_argument", "message":
                                            "the number of input tokens 9000 exceeds the maximum 8192"}],
                                "status_code": 400}))
    with pytest.raises(polyrelay.ContextWindowExceededError):
        chat(fake)


def test_rejected_api_key(fake, iam):
    iam.responder = lambda request: Reply(400, json={"errorCode": "BXNIM0415E",
                                                     "errorMessage": "Provided API key could not be found.",
                                                     "context": {"requestId": "r1"}})
    with pytest.raises(openai.AuthenticationError, match="could not be found") as caught:
        chat(fake)
    assert APIKEY not in str(caught.value)
    assert fake.requests == []


def test_missing_settings_are_named(fake, iam):
    with pytest.raises(openai.BadRequestError, match="WATSONX_URL"):
        polyrelay.completion(model="watsonx/ibm/granite-3-8b-instruct", messages=MESSAGES, api_key=APIKEY)
    with pytest.raises(openai.BadRequestError, match="project_id"):
        polyrelay.completion(model="watsonx/ibm/granite-3-8b-instruct", messages=MESSAGES, api_key=APIKEY,
                             api_base=fake.url)
    with pytest.raises(openai.AuthenticationError, match="WATSONX_APIKEY"):
        polyrelay.completion(model="watsonx/ibm/granite-3-8b-instruct", messages=MESSAGES, api_base=fake.url,
                             project_id=PROJECT)


def test_callbacks_never_see_the_token_or_key(fake, iam):
    from polyrelay import CustomLogger
    from polyrelay.observe import DISPATCHER

    class Recorder(CustomLogger):
        def __init__(self):
            super().__init__()
            self.seen = []

        async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
            self.seen.append(kwargs)

    handler = Recorder()
    polyrelay.callbacks = [handler]
    try:
        fake.reply(Reply(json=CHAT_ANSWER))
        polyrelay.completion(model="watsonx/ibm/granite-3-8b-instruct", messages=MESSAGES, api_base=fake.url,
                             token="given-bearer-token-0123456789", project_id=PROJECT)
        assert DISPATCHER.flush(10)
    finally:
        polyrelay.callbacks = []
    (kwargs,) = handler.seen
    assert "token" not in kwargs
    dumped = json.dumps(kwargs["standard_logging_object"], default=str)
    assert "given-bearer-token-0123456789" not in dumped
    assert fake.requests[0].headers["authorization"] == "Bearer given-bearer-token-0123456789"


@pytest.mark.parametrize("body", [b"<html>502 Bad Gateway</html>", b'{"errors": "oops"}', b"[]", b""])
def test_odd_error_bodies_still_map(fake, iam, body):
    fake.reply(Reply(502, body=body, headers={"Content-Type": "text/html"}))
    with pytest.raises(openai.APIStatusError) as caught:
        chat(fake)
    assert caught.value.status_code == 502 and caught.value.llm_provider == "watsonx"
    assert ("502 Bad Gateway" if body.startswith(b"<") else "HTTP 502") in str(caught.value)
