"""vertex_ai/, watsonx/ and azure_ai/ through the gateway, as LiteLLM configs name
them, driven by the openai SDK; the upstreams and the token endpoints
(Google OAuth, IBM Cloud IAM) are fakes on 127.0.0.1."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs

import httpx
import openai
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fakeserver import FakeServer, Reply
from gateway_process import GatewayProcess

GOOGLE_TOKEN = "ya29.gateway-access-token-0123456789"
IAM_TOKEN = "iam-gateway-access-token-abcdef0123"
WATSONX_KEY = "ibm-apikey-gateway-secret-0123456789"
AZURE_AI_KEY = "azure-ai-gateway-secret-0123456789"
GEMINI_ANSWER = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "Hello from Vertex"}]}, "finishReason": "STOP"}],
    "usageMetadata": {"promptTokenCount": 2000, "candidatesTokenCount": 10, "totalTokenCount": 2010,
                      "cachedContentTokenCount": 1500},
    "modelVersion": "gemini-2.0-flash", "responseId": "vtx-1",
}
CONFIG = """
model_list:
  - model_name: gemini-flash
    litellm_params:
      model: vertex_ai/gemini-2.0-flash
      vertex_project: acme-prod
      vertex_location: europe-west4
      vertex_credentials: os.environ/SA_FILE
      api_base: os.environ/VERTEX_BASE
  - model_name: gemini-misconfigured
    litellm_params:
      model: vertex_ai/gemini-2.0-flash
      vertex_project: acme-prod
      vertex_credentials: /nonexistent/service-account.json
      api_base: os.environ/VERTEX_BASE
  - model_name: granite
    litellm_params:
      model: watsonx/ibm/granite-3-8b-instruct
      api_base: os.environ/WATSONX_BASE
      api_key: os.environ/WATSONX_KEY
      project_id: proj-1
  - model_name: llama-foundry
    litellm_params:
      model: azure_ai/Llama-3.3-70B-Instruct
      api_base: os.environ/AZURE_AI_BASE
      api_key: os.environ/AZURE_AI_KEY
"""


@pytest.fixture(scope="module")
def servers():
    started = {name: FakeServer().start() for name in ("oauth", "vertex", "iam", "watsonx", "azure_ai")}
    started["oauth"].responder = lambda request: Reply(json={"access_token": GOOGLE_TOKEN, "expires_in": 3599,
                                                             "token_type": "Bearer"})
    started["iam"].responder = lambda request: Reply(json={"access_token": IAM_TOKEN, "token_type": "Bearer",
                                                           "expires_in": 3600,
                                                           "expiration": int(time.time()) + 3600})
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture(scope="module")
def gateway(servers, tmp_path_factory):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    sa_file = tmp_path_factory.mktemp("sa") / "sa.json"
    sa_file.write_text(json.dumps({"type": "service_account", "project_id": "from-key", "private_key_id": "k1",
                                   "private_key": pem, "client_email": "gw@acme-prod.iam.gserviceaccount.com",
                                   "token_uri": servers["oauth"].url + "/token"}))
    process = GatewayProcess(CONFIG, env={
        "SA_FILE": str(sa_file), "VERTEX_BASE": servers["vertex"].url,
        "WATSONX_BASE": servers["watsonx"].url, "WATSONX_KEY": WATSONX_KEY,
        "WATSONX_IAM_URL": servers["iam"].url + "/identity/token",
        "AZURE_AI_BASE": servers["azure_ai"].url, "AZURE_AI_KEY": AZURE_AI_KEY,
    }).start()
    yield process
    process.stop()


def client(gateway):
    return openai.OpenAI(api_key="anything", base_url=gateway.url, max_retries=0)


def test_vertex_gemini_through_the_gateway(gateway, servers):
    servers["vertex"].default = Reply(json=GEMINI_ANSWER)
    with client(gateway) as sdk:
        response = sdk.chat.completions.create(model="gemini-flash", messages=[{"role": "user", "content": "Hi"}])
    assert response.choices[0].message.content == "Hello from Vertex"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (2000, 10)
    assert response.usage.prompt_tokens_details.cached_tokens == 1500
    sent = servers["vertex"].requests[-1]
    assert sent.path == ("/v1/projects/acme-prod/locations/europe-west4/publishers/google/models/"
                         "gemini-2.0-flash:generateContent")
    assert sent.headers["authorization"] == f"Bearer {GOOGLE_TOKEN}"
    assert "vertex" not in json.dumps(sent.json)  # vertex_* settings never reach the body
    grant = parse_qs(servers["oauth"].requests[0].body.decode())
    assert grant["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]


def test_vertex_stream_and_cost_header(gateway, servers):
    event = {**GEMINI_ANSWER, "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 3,
                                                "totalTokenCount": 7}}
    servers["vertex"].reply(Reply(stream=[f"data: {json.dumps(event)}\r\n\r\n".encode()]))
    with client(gateway) as sdk:
        stream = sdk.chat.completions.create(model="gemini-flash", messages=[{"role": "user", "content": "Hi"}],
                                             stream=True, stream_options={"include_usage": True})
        chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from Vertex"
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (4, 3)
    assert servers["vertex"].requests[-1].query == {"alt": ["sse"]}
    servers["vertex"].reply(Reply(json=GEMINI_ANSWER))
    raw = httpx.post(gateway.url + "/v1/chat/completions", timeout=30,
                     json={"model": "gemini-flash", "messages": [{"role": "user", "content": "Hi"}]})
    # $0.15/M for 500 uncached, $0.0375/M for 1,500 cached, $0.60/M for 10 out.
    expected = 500 * 0.15e-6 + 1500 * 0.0375e-6 + 10 * 0.6e-6
    assert float(raw.headers["x-polyrelay-response-cost"]) == pytest.approx(expected)


def test_vertex_error_reaches_the_client_without_secrets(gateway, servers):
    servers["vertex"].reply(Reply(429, json={"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                                                       "message": f"Quota exceeded (token {GOOGLE_TOKEN})"}}))
    with client(gateway) as sdk, pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="gemini-flash", messages=[{"role": "user", "content": "Hi"}])
    assert "Quota exceeded" in str(caught.value)
    assert GOOGLE_TOKEN not in str(caught.value.body) and GOOGLE_TOKEN not in gateway.log
    assert "PRIVATE KEY" not in gateway.log


def test_watsonx_through_the_gateway(gateway, servers):
    servers["watsonx"].reply(Reply(json={
        "id": "w1", "model_id": "ibm/granite-3-8b-instruct", "created": 1733200000,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Granite here"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}))
    with client(gateway) as sdk:
        response = sdk.chat.completions.create(model="granite", messages=[{"role": "user", "content": "Hi"}])
    assert response.choices[0].message.content == "Granite here" and response.usage.total_tokens == 7
    sent = servers["watsonx"].requests[-1]
    assert sent.path == "/ml/v1/text/chat" and sent.headers["authorization"] == f"Bearer {IAM_TOKEN}"
    assert sent.json["project_id"] == "proj-1" and sent.json["model_id"] == "ibm/granite-3-8b-instruct"
    assert parse_qs(servers["iam"].requests[-1].body.decode())["apikey"] == [WATSONX_KEY]
    assert WATSONX_KEY not in gateway.log


def test_azure_ai_through_the_gateway(gateway, servers):
    servers["azure_ai"].reply(Reply(json={
        "id": "a1", "object": "chat.completion", "created": 1, "model": "Llama-3.3-70B-Instruct",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Foundry here"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 6, "completion_tokens": 2, "total_tokens": 8}}))
    with client(gateway) as sdk:
        response = sdk.chat.completions.create(model="llama-foundry", messages=[{"role": "user", "content": "Hi"}])
    assert response.choices[0].message.content == "Foundry here"
    sent = servers["azure_ai"].requests[-1]
    assert sent.path == "/chat/completions" and sent.headers["api-key"] == AZURE_AI_KEY


def test_unreadable_credentials_are_a_clear_openai_error(gateway, servers):
    before = len(servers["vertex"].requests)
    raw = httpx.post(gateway.url + "/v1/chat/completions", timeout=30,
                     json={"model": "gemini-misconfigured", "messages": [{"role": "user", "content": "Hi"}]})
    assert raw.status_code == 401
    error = raw.json()["error"]
    assert "neither JSON nor a readable file" in error["message"] and "Traceback" not in raw.text
    assert len(servers["vertex"].requests) == before  # nothing sent without a token
