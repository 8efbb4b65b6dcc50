"""Issue 20's providers behind a real gateway, driven by the openai SDK:
Replicate (prediction, polling, SSE stream + metrics) and SageMaker (SigV4,
TGI body, event-stream), with their secrets kept out of the log and answers."""

from __future__ import annotations

import json
import struct
import zlib

import openai
import pytest

from fakeserver import FakeServer, Recorded, Reply
from gateway_process import GatewayProcess

REPLICATE_KEY = "r8_gateway_secret_0123456789"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYGATEWAYKEY"
HELLO = [{"role": "user", "content": "Say hello"}]


def _frame(payload: bytes) -> bytes:
    headers = b"".join(bytes([len(k)]) + k + b"\x07" + struct.pack(">H", len(v)) + v for k, v in (
        (b":event-type", b"PayloadPart"), (b":message-type", b"event"),
        (b":content-type", b"application/octet-stream")))
    total = 12 + len(headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(headers))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def _prediction(base: str, status: str, output=None) -> dict:
    return {"id": "p1", "status": status, "output": output, "error": None,
            "metrics": {"input_token_count": 12, "output_token_count": 3} if status == "succeeded" else {},
            "urls": {"get": f"{base}/v1/predictions/p1", "stream": f"{base}/stream/p1"}}


@pytest.fixture(scope="module")
def upstream():
    server = FakeServer()

    def answer(request: Recorded) -> Reply:
        base = server.url
        if request.path == "/v1/models/meta/meta-llama-3-8b-instruct/predictions":
            streamed = (request.json or {}).get("stream")
            return Reply(201, json=_prediction(base, "starting" if streamed else "succeeded",
                                               None if streamed else ["Hello", " there"]))
        if request.path == "/v1/predictions/p1":
            return Reply(json=_prediction(base, "succeeded", ["Hello", " there"]))
        if request.path == "/stream/p1":
            return Reply(stream=[b"event: output\ndata: Hello\n\n", b"event: output\ndata:  there\n\n",
                                 b"event: done\ndata: {}\n\n"])
        if request.path == "/endpoints/tgi-endpoint/invocations":
            return Reply(json=[{"generated_text": "Hi from TGI",
                                "details": {"finish_reason": "eos_token", "generated_tokens": 4,
                                            "prefill": [{"id": 1}, {"id": 2}, {"id": 3}]}}])
        if request.path == "/endpoints/tgi-endpoint/invocations-response-stream":
            raw = (b'data:{"token":{"text":"Hi","special":false}}\n\n'
                   b'data:{"token":{"text":" TGI","special":false},"details":{"finish_reason":"eos_token",'
                   b'"generated_tokens":2}}\n\n')
            return Reply(headers={"Content-Type": "application/vnd.amazon.eventstream"},
                         stream=[_frame(raw[:25]), _frame(raw[25:])])
        return Reply(404, json={"detail": f"no route {request.path}"})

    server.responder = answer
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(upstream):
    config = f"""
model_list:
  - model_name: llama-on-replicate
    litellm_params:
      model: replicate/meta/meta-llama-3-8b-instruct
      api_base: {upstream.url}/v1
      api_key: os.environ/REPLICATE_API_KEY
  - model_name: missing-on-replicate
    litellm_params:
      model: replicate/acme/missing
      api_base: {upstream.url}/v1
      api_key: os.environ/REPLICATE_API_KEY
  - model_name: workers-ai
    litellm_params:
      model: cloudflare/@cf/meta/llama-3.1-8b-instruct
      api_key: cf-gateway-token-123456
      cloudflare_account_id: acc123
  - model_name: llama-on-sagemaker
    litellm_params:
      model: sagemaker/tgi-endpoint
      api_base: {upstream.url}
      aws_access_key_id: AKIAGATEWAYEXAMPLE12
      aws_secret_access_key: os.environ/GW_AWS_SECRET
      aws_region_name: us-west-2
"""
    process = GatewayProcess(config, env={"REPLICATE_API_KEY": REPLICATE_KEY, "GW_AWS_SECRET": AWS_SECRET}).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(gateway):
    with openai.OpenAI(api_key="anything", base_url=gateway.url, max_retries=0) as sdk:
        yield sdk


def test_replicate_through_the_gateway(client, upstream):
    upstream.requests.clear()
    response = client.chat.completions.create(model="llama-on-replicate", messages=HELLO, max_tokens=16)
    assert response.choices[0].message.content == "Hello there"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (12, 3)
    sent = upstream.requests[0]
    assert sent.headers["authorization"] == f"Bearer {REPLICATE_KEY}"
    assert sent.json["input"] == {"prompt": "Say hello", "max_tokens": 16}

    stream = client.chat.completions.create(model="llama-on-replicate", messages=HELLO, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there"
    assert chunks[-1].usage.completion_tokens == 3  # Replicate's metrics, read after "done"


def test_sagemaker_through_the_gateway(client, upstream, gateway):
    upstream.requests.clear()
    response = client.chat.completions.create(model="llama-on-sagemaker", messages=HELLO)
    assert response.choices[0].message.content == "Hi from TGI"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (3, 4)  # TGI's own counts
    sent = upstream.requests[0]
    assert sent.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIAGATEWAYEXAMPLE12/")
    assert sent.json["inputs"] == "Say hello" and "aws_secret_access_key" not in json.dumps(sent.json)

    stream = client.chat.completions.create(model="llama-on-sagemaker", messages=HELLO, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hi TGI"
    for secret in (REPLICATE_KEY, AWS_SECRET):
        assert secret not in gateway.log


def test_replicate_error_comes_back_openai_shaped(client, gateway):
    # The fake answers Replicate's problem+json 404 for a model it does not serve.
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="missing-on-replicate", messages=HELLO)
    assert "no route /v1/models/acme/missing/predictions" in caught.value.message
    assert REPLICATE_KEY not in caught.value.message and REPLICATE_KEY not in gateway.log


def test_a_client_cannot_pick_the_cloudflare_account(client, upstream):
    upstream.requests.clear()
    with pytest.raises(openai.PermissionDeniedError, match="cloudflare_account_id"):
        client.chat.completions.create(model="workers-ai", messages=HELLO,
                                       extra_body={"cloudflare_account_id": "someone-else"})
    assert upstream.requests == []
