"""Vertex AI (``vertex_ai/``) end to end: a locally generated service-account key,
a fake Google OAuth token endpoint that checks the signed JWT grant, and a
fake Vertex server speaking generateContent / rawPredict / predict."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

import openai
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import polyrelay
from fakeserver import FakeServer, Reply
from polyrelay.providers import gcp_auth

MESSAGES = [{"role": "user", "content": "Say hi"}]
PROJECT = "acme-prod-123"
TOKEN = "ya29.test-access-token-0123456789"
GEMINI_ANSWER = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "Hi there!"}]}, "finishReason": "STOP",
                    "avgLogprobs": -0.1}],
    "usageMetadata": {"promptTokenCount": 1200, "candidatesTokenCount": 4, "totalTokenCount": 1204,
                      "cachedContentTokenCount": 1000, "trafficType": "ON_DEMAND"},
    "modelVersion": "gemini-2.0-flash", "createTime": "2026-12-03T06:00:00.000000Z", "responseId": "resp-1",
}
CLAUDE_ANSWER = {
    "id": "msg_vrtx_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
    "content": [{"type": "text", "text": "Hello!"}], "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 10, "output_tokens": 3, "cache_creation_input_tokens": 0,
              "cache_read_input_tokens": 20},
}


@pytest.fixture(scope="module")
def private_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def oauth():
    server = FakeServer().start()
    server.responder = lambda request: Reply(json={"access_token": TOKEN, "expires_in": 3599,
                                                   "token_type": "Bearer"})
    yield server
    server.stop()


@pytest.fixture
def sa_json(private_key, oauth):
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    return json.dumps({
        "type": "service_account", "project_id": PROJECT, "private_key_id": "kid-1", "private_key": pem,
        "client_email": "relay@acme-prod-123.iam.gserviceaccount.com", "client_id": "1234567890",
        "token_uri": oauth.url + "/token",
    })


@pytest.fixture(autouse=True)
def fresh_tokens(monkeypatch):
    monkeypatch.setattr(gcp_auth, "_SOURCES", {})
    for name in ("VERTEXAI_PROJECT", "VERTEXAI_LOCATION", "VERTEXAI_CREDENTIALS", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def check_grant(recorded, private_key) -> dict:
    """The token request is Google's JWT-bearer grant, signed RS256 by the service account's key."""
    assert recorded.method == "POST" and recorded.path == "/token"
    form = parse_qs(recorded.body.decode())
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    header, claims, signature = form["assertion"][0].split(".")
    assert json.loads(_b64(header)) == {"alg": "RS256", "typ": "JWT", "kid": "kid-1"}
    private_key.public_key().verify(_b64(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(),
                                    hashes.SHA256())  # raises InvalidSignature if not signed by the key
    payload = json.loads(_b64(claims))
    assert payload["iss"] == "relay@acme-prod-123.iam.gserviceaccount.com"
    assert payload["aud"] == "https://oauth2.googleapis.com/token"  # google-auth's audience, whatever token_uri is
    assert payload["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    return payload


def test_gemini_chat_signs_in_with_the_service_account(fake, oauth, sa_json, private_key):
    fake.reply(Reply(json=GEMINI_ANSWER))
    response = polyrelay.completion(model="vertex_ai/gemini-2.0-flash", messages=MESSAGES, api_base=fake.url,
                                    vertex_credentials=sa_json, vertex_location="europe-west4", temperature=0.2)
    check_grant(oauth.requests[0], private_key)
    sent = fake.requests[0]
    assert sent.path == (f"/v1/projects/{PROJECT}/locations/europe-west4/publishers/google/models/"
                         "gemini-2.0-flash:generateContent")
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.json == {"contents": [{"role": "user", "parts": [{"text": "Say hi"}]}],
                         "generationConfig": {"temperature": 0.2}}  # no vertex_* argument in the body
    assert response.choices[0].message.content == "Hi there!"
    usage = response.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (1200, 4, 1204)
    assert usage.prompt_tokens_details.cached_tokens == 1000
    assert response._hidden_params["custom_llm_provider"] == "vertex_ai"
    # gemini-2.0-flash on Vertex: $0.15/M input, $0.0375/M cached, $0.60/M output.
    assert response._hidden_params["response_cost"] == pytest.approx(200 * 0.15e-6 + 1000 * 0.0375e-6 + 4 * 0.6e-6)


def test_token_is_cached_and_refreshed_before_expiry(fake, oauth, sa_json):
    fake.default = Reply(json=GEMINI_ANSWER)
    for _ in range(3):
        polyrelay.completion(model="vertex_ai/gemini-2.0-flash", messages=MESSAGES, api_base=fake.url,
                             vertex_credentials=sa_json, vertex_project="other-project")
    assert len(oauth.requests) == 1  # one token for three calls
    assert fake.requests[0].path.startswith("/v1/projects/other-project/locations/us-central1/")
    # A token that expires within the refresh margin is replaced before the next call.
    oauth.responder = lambda request: Reply(json={"access_token": "ya29.short-lived-token-xyz", "expires_in": 60,
                                                  "token_type": "Bearer"})
    gcp_auth.forget(sa_json)
    for _ in range(2):
        polyrelay.completion(model="vertex_ai/gemini-2.0-flash", messages=MESSAGES, api_base=fake.url,
                             vertex_credentials=sa_json, vertex_project="other-project")
    assert len(oauth.requests) == 3  # forgotten, then too close to expiry to reuse
    assert fake.requests[-1].headers["authorization"] == "Bearer ya29.short-lived-token-xyz"


def test_credentials_from_a_file_and_env(fake, oauth, sa_json, tmp_path, monkeypatch):
    path = tmp_path / "sa.json"
    path.write_text(sa_json)
    monkeypatch.setenv("VERTEXAI_CREDENTIALS", str(path))
    monkeypatch.setenv("VERTEXAI_LOCATION", "global")
    fake.reply(Reply(json=GEMINI_ANSWER))
    polyrelay.completion(model="vertex_ai/gemini-2.0-flash", messages=MESSAGES, api_base=fake.url)
    assert fake.requests[0].path == (f"/v1/projects/{PROJECT}/locations/global/publishers/google/models/"
                                     "gemini-2.0-flash:generateContent")
    assert len(oauth.requests) == 1


def test_application_default_credentials(fake, oauth, sa_json, tmp_path, monkeypatch):
    path = tmp_path / "adc.json"
    path.write_text(sa_json)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    monkeypatch.setenv("VERTEXAI_PROJECT", "env-project")
    fake.reply(Reply(json=GEMINI_ANSWER))
    polyrelay.completion(model="vertex_ai/gemini-2.0-flash", messages=MESSAGES, api_base=fake.url)
    assert fake.requests[0].path.startswith("/v1/projects/env-project/locations/us-central1/")
    assert fake.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_default_host_is_regional():
    from polyrelay.providers import get_adapter
    from polyrelay.providers.base import CHAT, Call, Credentials

    adapter = get_adapter("vertex_ai")
    for location, host in (("us-east5", "https://us-east5-aiplatform.googleapis.com"),
                           ("global", "https://aiplatform.googleapis.com")):
        call = Call(CHAT, "vertex_ai", "claude-sonnet-4@20250514",
                    {"messages": MESSAGES, "vertex_project": "p", "vertex_location": location}, Credentials())
        request = adapter.build_request(call)
        assert request.url == (f"{host}/v1/projects/p/locations/{location}/publishers/anthropic/models/"
                               "claude-sonnet-4@20250514:rawPredict")


def test_gemini_stream_with_usage(fake, oauth, sa_json):
    events = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}}],
         "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1, "totalTokenCount": 6},
         "modelVersion": "gemini-2.0-flash", "responseId": "r-2"},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": " there"}]}, "finishReason": "STOP"}],
         "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3, "totalTokenCount": 8},
         "modelVersion": "gemini-2.0-flash", "responseId": "r-2"},
    ]
    fake.reply(Reply(stream=[f"data: {json.dumps(e)}\r\n\r\n".encode() for e in events]))
    stream = polyrelay.completion(model="vertex_ai/gemini-2.0-flash", messages=MESSAGES, api_base=fake.url,
                                  vertex_credentials=sa_json, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    sent = fake.requests[0]
    assert sent.path.endswith("/publishers/google/models/gemini-2.0-flash:streamGenerateContent")
    assert sent.query == {"alt": ["sse"]}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hi there"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (5, 3)


def test_claude_raw_predict(fake, oauth, sa_json):
    fake.reply(Reply(json=CLAUDE_ANSWER))
    response = polyrelay.completion(model="vertex_ai/claude-sonnet-4@20250514", api_base=fake.url,
                                    messages=[{"role": "system", "content": "Be brief."}, *MESSAGES],
                                    vertex_credentials=sa_json, vertex_location="us-east5", max_tokens=50)
    sent = fake.requests[0]
    assert sent.path == (f"/v1/projects/{PROJECT}/locations/us-east5/publishers/anthropic/models/"
                         "claude-sonnet-4@20250514:rawPredict")
    assert sent.json == {"anthropic_version": "vertex-2023-10-16", "system": "Be brief.", "max_tokens": 50,
                         "messages": [{"role": "user", "content": "Say hi"}]}
    assert "anthropic-version" not in sent.headers and "x-api-key" not in sent.headers
    assert response.choices[0].message.content == "Hello!"
    usage = response.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (30, 3, 33)
    assert usage.prompt_tokens_details.cached_tokens == 20
    # Sonnet 4: $3/M input, $0.30/M cache read, $15/M output.
    assert response._hidden_params["response_cost"] == pytest.approx(10 * 3e-6 + 20 * 0.3e-6 + 3 * 15e-6)


def test_claude_stream_raw_predict(fake, oauth, sa_json):
    events = [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
            "content": [], "stop_reason": None, "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Hel"}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "lo"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 2}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    fake.reply(Reply(stream=[f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events]))
    chunks = list(polyrelay.completion(model="vertex_ai/claude-sonnet-4@20250514", messages=MESSAGES,
                                       api_base=fake.url, vertex_credentials=sa_json, stream=True,
                                       stream_options={"include_usage": True}))
    sent = fake.requests[0]
    assert sent.path.endswith("/publishers/anthropic/models/claude-sonnet-4@20250514:streamRawPredict")
    assert sent.json["stream"] is True and "model" not in sent.json
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (12, 2)


def test_claude_params_anthropic_lacks_are_named(fake, oauth, sa_json):
    with pytest.raises(polyrelay.UnsupportedParamsError, match="seed"):
        polyrelay.completion(model="vertex_ai/claude-sonnet-4@20250514", messages=MESSAGES, api_base=fake.url,
                             vertex_credentials=sa_json, seed=1)
    fake.reply(Reply(json=CLAUDE_ANSWER))
    polyrelay.completion(model="vertex_ai/claude-sonnet-4@20250514", messages=MESSAGES, api_base=fake.url,
                         vertex_credentials=sa_json, seed=1, drop_params=True)
    assert "seed" not in fake.requests[0].json
    fake.reply(Reply(json=GEMINI_ANSWER))  # Gemini takes a seed
    polyrelay.completion(model="vertex_ai/gemini-2.0-flash", messages=MESSAGES, api_base=fake.url,
                         vertex_credentials=sa_json, seed=1)
    assert fake.requests[-1].json["generationConfig"] == {"seed": 1}


def test_embeddings_predict(fake, oauth, sa_json):
    fake.reply(Reply(json={"predictions": [
        {"embeddings": {"statistics": {"truncated": False, "token_count": 4}, "values": [0.1, 0.2]}},
        {"embeddings": {"statistics": {"truncated": False, "token_count": 6}, "values": [0.3, 0.4]}}],
        "metadata": {"billableCharacterCount": 30}}))
    response = polyrelay.embedding(model="vertex_ai/text-embedding-005", input=["hello world", "good morning all"],
                                   api_base=fake.url, vertex_credentials=sa_json, dimensions=2,
                                   task_type="RETRIEVAL_DOCUMENT")
    sent = fake.requests[0]
    assert sent.path == f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models/text-embedding-005:predict"
    assert sent.json == {"instances": [{"content": "hello world", "task_type": "RETRIEVAL_DOCUMENT"},
                                       {"content": "good morning all", "task_type": "RETRIEVAL_DOCUMENT"}],
                         "parameters": {"outputDimensionality": 2}}
    assert [d["embedding"] for d in response.data] == [[0.1, 0.2], [0.3, 0.4]]
    assert (response.usage.prompt_tokens, response.usage.total_tokens) == (10, 10)


@pytest.mark.parametrize(("status", "google_status", "cls"), [
    (400, "INVALID_ARGUMENT", openai.BadRequestError),
    (401, "UNAUTHENTICATED", openai.AuthenticationError),
    (403, "PERMISSION_DENIED", openai.PermissionDeniedError),
    (404, "NOT_FOUND", openai.NotFoundError),
    (429, "RESOURCE_EXHAUSTED", openai.RateLimitError),
    (500, "INTERNAL", openai.InternalServerError),
    (503, "UNAVAILABLE", polyrelay.ServiceUnavailableError),
])
def test_google_error_bodies_map_to_exceptions(fake, oauth, sa_json, status, google_status, cls):
    fake.reply(Reply(status, json={"error": {"code": status, "message": f"echo Bearer {TOKEN} failed",
                                             "status": google_status}}))
    with pytest.raises(cls) as caught:
        polyrelay.completion(model="vertex_ai/gemini-2.0-flash", messages=MESSAGES, api_base=fake.url,
                             vertex_credentials=sa_json)
    exc = caught.value
    assert exc.status_code == status and exc.llm_provider == "vertex_ai"
    assert exc.code == google_status
    assert TOKEN not in str(exc) and TOKEN not in json.dumps(exc.body)
    assert "PRIVATE KEY" not in str(exc)


def test_context_window_error(fake, oauth, sa_json):
    fake.reply(Reply(400, json={"error": {"code": 400, "status": "INVALID_ARGUMENT", "message":
                                          "The input token count (1200000) exceeds the maximum number of tokens "
                                          "allowed (1048576)."}}))
    with pytest.raises(polyrelay.ContextWindowExceededError):
        polyrelay.completion(model="vertex_ai/gemini-2.0-flash", messages=MESSAGES, api_base=fake.url,
                             vertex_credentials=sa_json)


def test_token_endpoint_refusal_is_an_authentication_error(fake, oauth, sa_json):
    oauth.responder = lambda request: Reply(400, json={"error": "invalid_grant",
                                                       "error_description": "Invalid JWT Signature."})
    with pytest.raises(openai.AuthenticationError) as caught:
        polyrelay.completion(model="vertex_ai/gemini-2.0-flash", messages=MESSAGES, api_base=fake.url,
                             vertex_credentials=sa_json)
    assert "invalid_grant" in str(caught.value)
    assert "PRIVATE KEY" not in str(caught.value) and "private_key" not in str(caught.value)
    assert fake.requests == []  # nothing sent to Vertex without a token


def test_bad_credentials_never_quoted(fake):
    secret_looking = '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----abc"'  # cut short
    with pytest.raises(openai.AuthenticationError) as caught:
        polyrelay.completion(model="vertex_ai/gemini-2.0-flash", messages=MESSAGES, api_base=fake.url,
                             vertex_credentials=secret_looking, vertex_project="p")
    assert "BEGIN PRIVATE KEY" not in str(caught.value)
    with pytest.raises(openai.AuthenticationError, match="neither JSON nor a readable file"):
        polyrelay.completion(model="vertex_ai/gemini-2.0-flash", messages=MESSAGES, api_base=fake.url,
                             vertex_credentials="/nonexistent/sa.json", vertex_project="p")
    assert fake.requests == []


def test_no_project_anywhere(fake, oauth, sa_json):
    no_project = json.dumps({**json.loads(sa_json), "project_id": None})
    with pytest.raises(openai.BadRequestError, match="vertex_project"):
        polyrelay.completion(model="vertex_ai/gemini-2.0-flash", messages=MESSAGES, api_base=fake.url,
                             vertex_credentials=no_project)


@pytest.mark.anyio
async def test_async_completion(fake, oauth, sa_json):
    fake.reply(Reply(json=GEMINI_ANSWER))
    response = await polyrelay.acompletion(model="vertex_ai/gemini-2.0-flash", messages=MESSAGES,
                                           api_base=fake.url, vertex_credentials=sa_json)
    assert response.choices[0].message.content == "Hi there!"
    assert fake.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_a_401_drops_the_cached_token(fake, oauth, sa_json):
    fake.reply(Reply(401, json={"error": {"code": 401, "status": "UNAUTHENTICATED",
                                          "message": "Request had invalid authentication credentials."}}),
               Reply(json=GEMINI_ANSWER))
    with pytest.raises(openai.AuthenticationError):
        polyrelay.completion(model="vertex_ai/gemini-2.0-flash", messages=MESSAGES, api_base=fake.url,
                             vertex_credentials=sa_json)
    polyrelay.completion(model="vertex_ai/gemini-2.0-flash", messages=MESSAGES, api_base=fake.url,
                         vertex_credentials=sa_json)
    assert len(oauth.requests) == 2  # the next request signed in again


def test_tools_on_gemini_and_claude(fake, oauth, sa_json):
    tool = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                             "parameters": {"type": "object", "properties": {
                                                 "city": {"type": "string"}}, "required": ["city"]}}}
    fake.reply(Reply(json={"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 5, "totalTokenCount": 25}}))
    response = polyrelay.completion(model="vertex_ai/gemini-2.0-flash", messages=MESSAGES, api_base=fake.url,
                                    vertex_credentials=sa_json, tools=[tool], tool_choice="required")
    assert fake.requests[-1].json["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    assert fake.requests[-1].json["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    call = response.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Paris"})
    assert response.choices[0].finish_reason == "tool_calls"
    fake.reply(Reply(json={**CLAUDE_ANSWER, "stop_reason": "tool_use", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Rome"}}]}))
    response = polyrelay.completion(model="vertex_ai/claude-sonnet-4@20250514", messages=MESSAGES,
                                    api_base=fake.url, vertex_credentials=sa_json, tools=[tool])
    assert fake.requests[-1].json["tools"][0]["name"] == "get_weather"
    assert response.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert response.choices[0].finish_reason == "tool_calls"


@pytest.mark.anyio
async def test_concurrent_calls_share_one_token_fetch(fake, oauth, sa_json):
    import asyncio

    fake.default = Reply(json=GEMINI_ANSWER)
    answers = await asyncio.gather(*(polyrelay.acompletion(model="vertex_ai/gemini-2.0-flash", messages=MESSAGES,
                                                           api_base=fake.url, vertex_credentials=sa_json)
                                     for _ in range(6)))
    assert all(a.choices[0].message.content == "Hi there!" for a in answers)
    assert len(oauth.requests) == 1 and len(fake.requests) == 6


def test_text_completion_over_gemini(fake, oauth, sa_json):
    fake.reply(Reply(json=GEMINI_ANSWER))
    response = polyrelay.text_completion(model="vertex_ai/gemini-2.0-flash", prompt="Say hi", api_base=fake.url,
                                         vertex_credentials=sa_json)
    assert response.choices[0].text == "Hi there!"
    assert fake.requests[0].json["contents"] == [{"role": "user", "parts": [{"text": "Say hi"}]}]


def test_claude_error_shapes(fake, oauth, sa_json):
    # Anthropic's own error body, passed on by Vertex's Claude endpoint.
    fake.reply(Reply(400, json={"type": "error", "error": {"type": "invalid_request_error",
                                                           "message": "prompt is too long: 210000 tokens > 200000"}}))
    with pytest.raises(polyrelay.ContextWindowExceededError):
        polyrelay.completion(model="vertex_ai/claude-sonnet-4@20250514", messages=MESSAGES, api_base=fake.url,
                             vertex_credentials=sa_json)
    # Google's error body, from Vertex itself (quota in front of the model).
    fake.reply(Reply(429, json={"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                                          "message": "Quota exceeded for aiplatform.googleapis.com/online_prediction"}}))
    with pytest.raises(openai.RateLimitError) as caught:
        polyrelay.completion(model="vertex_ai/claude-sonnet-4@20250514", messages=MESSAGES, api_base=fake.url,
                             vertex_credentials=sa_json)
    assert caught.value.llm_provider == "vertex_ai" and "Quota exceeded" in str(caught.value)


def test_without_google_auth_installed_the_error_says_what_to_install(fake, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "google.auth", None)  # import google.auth now raises ImportError
    with pytest.raises(openai.BadRequestError, match=r"polyrelay\[vertex\]"):
        polyrelay.completion(model="vertex_ai/gemini-2.0-flash", messages=MESSAGES, api_base=fake.url,
                             vertex_project="p")
    assert fake.requests == []


def test_open_models_use_the_openai_compatible_endpoint(fake, oauth, sa_json):
    fake.reply(Reply(json={"id": "o1", "object": "chat.completion", "created": 1,
                           "model": "meta/llama-4-maverick-17b-128e-instruct-maas",
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": "Llama here"},
                                        "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}}))
    response = polyrelay.completion(model="vertex_ai/meta/llama-4-maverick-17b-128e-instruct-maas",
                                    messages=MESSAGES, api_base=fake.url, vertex_credentials=sa_json,
                                    vertex_location="us-east5", seed=7)
    sent = fake.requests[0]
    assert sent.path == f"/v1/projects/{PROJECT}/locations/us-east5/endpoints/openapi/chat/completions"
    assert sent.json == {"model": "meta/llama-4-maverick-17b-128e-instruct-maas", "messages": MESSAGES, "seed": 7}
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert response.choices[0].message.content == "Llama here" and response.usage.total_tokens == 12
    chunk = {"id": "o2", "object": "chat.completion.chunk", "created": 1, "model": "meta/llama"}
    fake.reply(Reply(stream=[
        f"data: {json.dumps({**chunk, 'choices': [{'index': 0, 'delta': {'content': 'Hi'}, 'finish_reason': 'stop'}]})}\n\n".encode(),
        f"data: {json.dumps({**chunk, 'choices': [], 'usage': {'prompt_tokens': 4, 'completion_tokens': 1, 'total_tokens': 5}})}\n\n".encode(),
        b"data: [DONE]\n\n"]))
    chunks = list(polyrelay.completion(model="vertex_ai/meta/llama-4-maverick-17b-128e-instruct-maas",
                                       messages=MESSAGES, api_base=fake.url, vertex_credentials=sa_json,
                                       stream=True, stream_options={"include_usage": True}))
    assert fake.requests[-1].json["stream"] is True
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hi"
    assert chunks[-1].usage.prompt_tokens == 4


def test_credentials_as_a_mapping(fake, oauth, sa_json):
    """A YAML config may give the key as a mapping rather than a JSON string."""
    fake.reply(Reply(json=GEMINI_ANSWER))
    response = polyrelay.completion(model="vertex_ai/gemini-2.0-flash", messages=MESSAGES, api_base=fake.url,
                                    vertex_credentials=json.loads(sa_json))
    assert response.choices[0].message.content == "Hi there!"
    assert fake.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
