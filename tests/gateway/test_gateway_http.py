"""HTTP edge cases through raw httpx against a real gateway process: auth,
malformed and mistyped bodies, size limit, unknown routes and methods,
upstream errors (relayed with their status, scrubbed of credentials),
errors mid-stream, client disconnects, /model/info and /metrics."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import openai
import pytest

from conftest import reset
from fakeserver import Reply, sse
from gateway_process import GatewayProcess
from slow_upstream import SlowUpstream

MASTER = "sk-edge-master-1234"
UPSTREAM_KEY = "sk-upstreamsecret-abcdef1234567890"
AUTH = {"Authorization": f"Bearer {MASTER}"}
HELLO = [{"role": "user", "content": "hello"}]
CONFIG = (Path(__file__).parent / "configs" / "edges.yaml").read_text()


@pytest.fixture(scope="module")
def slow():
    server = SlowUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(upstream, slow):
    process = GatewayProcess(CONFIG, env={"FAKE_UPSTREAM_BASE": upstream.url, "FAKE_UPSTREAM_KEY": UPSTREAM_KEY,
                                          "SLOW_UPSTREAM_BASE": slow.url}).start()
    yield process
    process.stop()


@pytest.fixture
def http(gateway):
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        yield client


@pytest.fixture
def fake(upstream):
    return reset(upstream)


def chat(http, body=None, headers=AUTH, **kwargs):
    return http.post("/chat/completions", json=body if body is not None else {"model": "mock", "messages": HELLO},
                     headers=headers, **kwargs)


def assert_openai_error(response, status: int, *, param=None, code=None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if param is not None:
        assert body["error"]["param"] == param
    if code is not None:
        assert body["error"]["code"] == code
    uuid.UUID(response.headers["x-polyrelay-call-id"])  # errors carry the call id too
    return body["error"]


# --- auth --------------------------------------------------------------------------------------

def test_master_key_required(http):
    error = assert_openai_error(chat(http, headers={}), 401)
    assert error["type"] == "authentication_error"
    assert "Authorization: Bearer" in error["message"]


def test_wrong_key_refused_and_not_echoed(http):
    error = assert_openai_error(chat(http, headers={"Authorization": "Bearer sk-wrong-key-0000000"}), 401)
    assert "sk-wrong-key-0000000" not in error["message"]
    assert_openai_error(chat(http, headers={"api-key": "nope"}), 401)


def test_master_key_as_bearer_or_api_key_header(http):
    assert chat(http, headers={"Authorization": f"Bearer {MASTER}"}).status_code == 200
    assert chat(http, headers={"api-key": MASTER}).status_code == 200


def test_every_model_route_needs_the_key(http):
    for method, path in (("GET", "/models"), ("GET", "/v1/models"), ("GET", "/model/info"), ("GET", "/health"),
                         ("POST", "/embeddings"), ("POST", "/v1/moderations"), ("POST", "/completions")):
        assert_openai_error(http.request(method, path, json={}), 401)


def test_probes_metrics_and_docs_need_no_key(http):
    assert http.get("/health/liveliness").json() == "I'm alive!"
    assert http.get("/health/readiness").json()["status"] == "healthy"
    assert http.get("/metrics").status_code == 200
    spec = http.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.") and "/chat/completions" in spec["paths"]
    assert "post" in spec["paths"]["/openai/deployments/{model}/chat/completions"]
    docs = http.get("/docs")
    assert docs.status_code == 200 and "/chat/completions" in docs.text


def test_openai_sdk_sees_authentication_error(gateway):
    with openai.OpenAI(api_key="sk-wrong", base_url=gateway.url, max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError):
            sdk.chat.completions.create(model="mock", messages=HELLO)


# --- malformed requests ------------------------------------------------------------------------

def test_malformed_json(http):
    response = http.post("/chat/completions", content=b'{"model": "mock", "messages": [', headers=AUTH)
    error = assert_openai_error(response, 400, code="invalid_json")
    assert "not valid JSON" in error["message"]
    assert_openai_error(http.post("/chat/completions", content=b"[1, 2]", headers=AUTH), 400, code="invalid_json")
    assert_openai_error(http.post("/chat/completions", content=b"", headers=AUTH), 400, code="invalid_json")


@pytest.mark.parametrize("field,value", [
    ("messages", "hello"), ("messages", []), ("messages", ["hello"]), ("temperature", "hot"), ("stream", "yes"),
    ("max_tokens", 1.5), ("max_tokens", True), ("model", 5), ("metadata", "x"), ("stop", 3), ("n", "2"),
    ("user_config", []), ("fallbacks", "other"),
])
def test_wrong_field_types(http, field, value):
    body = {"model": "mock", "messages": HELLO, field: value}
    error = assert_openai_error(chat(http, body), 400, param=field)
    assert field in error["message"]


def test_missing_required_fields(http):
    assert_openai_error(chat(http, {"messages": HELLO}), 400, param="model")
    assert_openai_error(chat(http, {"model": "mock"}), 400, param="messages")
    assert_openai_error(http.post("/embeddings", json={"model": "mock"}, headers=AUTH), 400, param="input")
    assert_openai_error(http.post("/completions", json={"model": "mock", "prompt": 5}, headers=AUTH), 400,
                        param="prompt")


def test_prices_cannot_be_set_by_a_client(http):
    body = {"model": "mock", "messages": HELLO, "input_cost_per_token": 0}
    assert_openai_error(chat(http, body), 400, param="input_cost_per_token")


def test_body_over_the_size_limit(http):
    big = {"model": "mock", "messages": [{"role": "user", "content": "x" * 20_000}]}
    error = assert_openai_error(chat(http, big), 413, code="request_too_large")
    assert "max_request_size_mb" in error["message"]

    def chunks():  # no content-length: the limit applies as bytes arrive
        yield json.dumps(big).encode()

    response = http.post("/chat/completions", content=chunks(), headers=AUTH)
    assert_openai_error(response, 413, code="request_too_large")


def test_unknown_model(http):
    error = assert_openai_error(chat(http, {"model": "gpt-99", "messages": HELLO}), 400)
    assert "Invalid model name" in error["message"] and "gpt-99" in error["message"]


def test_unknown_route_is_an_openai_404(http):
    for path in ("/nope", "/v1/chat/complete", "/v2/chat/completions"):
        error = assert_openai_error(http.post(path, json={}, headers=AUTH), 404)
        assert path in error["message"]
    assert_openai_error(http.get("/v1/nothing/here", headers=AUTH), 404)


def test_wrong_method_is_an_openai_405(http):
    response = http.get("/chat/completions", headers=AUTH)
    assert_openai_error(response, 405, code="method_not_allowed")
    assert response.headers["allow"] == "POST"
    assert_openai_error(http.delete("/v1/models", headers=AUTH), 405)
    assert_openai_error(http.post("/model/info", json={}, headers=AUTH), 405)


# --- answers and headers -----------------------------------------------------------------------

def test_headers_and_response_ms(http, gateway):
    response = chat(http)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion" and body["_response_ms"] > 0
    uuid.UUID(response.headers["x-polyrelay-call-id"])
    assert float(response.headers["x-polyrelay-overhead-ms"]) >= 0
    assert float(response.headers["x-polyrelay-response-cost"]) == 0.0  # mock/ is free
    info = http.get("/model/info", headers=AUTH).json()["data"]
    mock_ids = {d["model_info"]["id"] for d in info if d["model_name"] == "mock"}
    assert response.headers["x-polyrelay-model-id"] in mock_ids
    assert chat(http).headers["x-polyrelay-call-id"] != response.headers["x-polyrelay-call-id"]


def test_upstream_request_is_the_openai_protocol(http, fake):
    fake.reply(Reply(json={"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi!"},
                                        "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}}))
    body = {"model": "upstream", "messages": HELLO, "temperature": 0.5, "user": "end-user-7",
            "metadata": {"trace_id": "t-1"}}
    response = chat(http, body)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "hi!"
    assert float(response.headers["x-polyrelay-response-cost"]) > 0  # gpt-4o-mini has a price
    sent = fake.requests[0]
    assert sent.path == "/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert sent.json["model"] == "gpt-4o-mini" and sent.json["temperature"] == 0.5
    assert sent.json["user"] == "end-user-7"
    assert "metadata" not in sent.json and "litellm_call_id" not in sent.json  # ours, not the provider's


def test_upstream_error_relayed_with_status_and_scrubbed(http, fake):
    fake.reply(Reply(401, json={"error": {"message": f"Incorrect API key provided: {UPSTREAM_KEY}.",
                                          "type": "invalid_request_error", "param": None,
                                          "code": "invalid_api_key"}}))
    response = chat(http, {"model": "upstream-echo-key", "messages": HELLO})
    error = assert_openai_error(response, 401)
    assert UPSTREAM_KEY not in response.text and "abcdef1234567890" not in response.text
    assert "Incorrect API key provided" in error["message"]


def test_upstream_rate_limit_relayed_as_429(http, fake):
    fake.reply(Reply(429, json={"error": {"message": "Rate limit reached", "type": "rate_limit_error"}},
                     headers={"retry-after": "7"}))
    response = chat(http, {"model": "upstream", "messages": HELLO})
    assert_openai_error(response, 429)
    assert response.headers.get("retry-after") == "7"


def test_error_before_the_first_chunk_keeps_its_status(http, fake):
    fake.reply(Reply(400, json={"error": {"message": "bad things", "type": "invalid_request_error"}}))
    response = chat(http, {"model": "upstream", "messages": HELLO, "stream": True})
    assert_openai_error(response, 400)


def test_error_mid_stream_is_one_sse_error_event(http, fake):
    first = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
             "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}]}
    error = {"error": {"message": "The server had an error while processing your request.", "type": "server_error"}}
    fake.reply(Reply(stream=sse(first, error, done=False)))
    with http.stream("POST", "/chat/completions", headers=AUTH,
                     json={"model": "upstream", "messages": HELLO, "stream": True}) as response:
        assert response.status_code == 200
        raw = response.read().decode()
    events = [e for e in raw.split("\n\n") if e]
    assert json.loads(events[0][len("data: "):])["choices"][0]["delta"]["content"] == "Hel"
    assert len(events) == 2 and "[DONE]" not in raw
    sent_error = json.loads(events[1][len("data: "):])
    assert set(sent_error) == {"error"} and "server had an error" in sent_error["error"]["message"]


def test_openai_sdk_raises_on_mid_stream_error(gateway, fake):
    first = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
             "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]}
    fake.reply(Reply(stream=sse(first, {"error": {"message": "overloaded", "type": "server_error"}}, done=False)))
    with openai.OpenAI(api_key=MASTER, base_url=gateway.url, max_retries=0) as sdk:
        stream = sdk.chat.completions.create(model="upstream", messages=HELLO, stream=True)
        with pytest.raises(openai.APIError, match="overloaded"):
            for _ in stream:
                pass


def test_cut_off_upstream_stream_ends_with_an_error_event(http, fake):
    first = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
             "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]}
    fake.reply(Reply(stream=sse(first, done=False)))  # the connection closes with no finish and no [DONE]
    with http.stream("POST", "/chat/completions", headers=AUTH,
                     json={"model": "upstream", "messages": HELLO, "stream": True}) as response:
        raw = response.read().decode()
    assert raw.rstrip().splitlines()[-1].startswith('data: {"error"')
    assert "[DONE]" not in raw


# --- client disconnects ------------------------------------------------------------------------

def in_flight(gateway) -> float:
    return gateway.metric("polyrelay_in_flight_requests") - 1  # the /metrics scrape itself is in flight


def wait_until_idle(gateway, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while in_flight(gateway) > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert in_flight(gateway) == 0


def test_client_disconnect_cancels_the_upstream_request(gateway, slow):
    body = {"model": "slow", "messages": HELLO, "stream": True}
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        with client.stream("POST", "/chat/completions", json=body, headers=AUTH) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            received = [next(lines) for _ in range(3)]
            assert received[0].startswith("data: ")
        # leaving the block closes the connection mid-stream
    assert slow.closed.wait(5), "the upstream connection was still open 5s after the client left"
    assert not slow.finished.is_set()
    assert slow.sent < slow.chunks
    assert gateway.alive()
    assert httpx.get(gateway.url + "/health/readiness").status_code == 200
    wait_until_idle(gateway)


def test_client_disconnect_stops_a_slow_mock_stream(gateway, http):
    long_text = " ".join(f"word{i}" for i in range(400))
    body = {"model": "mock", "messages": HELLO, "stream": True, "mock_response": long_text,
            "mock_token_delay": 0.05}  # ~40 s to stream in full
    before = gateway.metric("polyrelay_errors_total", error_type="client_disconnected")
    started = time.monotonic()
    with http.stream("POST", "/chat/completions", json=body, headers=AUTH) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
    wait_until_idle(gateway)
    assert time.monotonic() - started < 10
    assert gateway.metric("polyrelay_errors_total", error_type="client_disconnected") == before + 1
    assert chat(http).status_code == 200  # still serving


# --- /model/info, /health, /metrics ------------------------------------------------------------

def test_model_info_shows_deployments_without_secrets(http):
    response = http.get("/model/info", headers=AUTH)
    assert response.status_code == 200
    data = response.json()["data"]
    assert {d["model_name"] for d in data} == {"mock", "upstream", "upstream-echo-key", "slow"}
    upstream = next(d for d in data if d["model_name"] == "upstream")
    assert upstream["litellm_params"]["model"] == "openai/gpt-4o-mini"
    assert upstream["model_info"]["id"]
    for secret in (UPSTREAM_KEY, "header-secret-value-987654", "sk-slowkey-0000000000", MASTER):
        assert secret not in response.text
    assert "api_key" not in upstream["litellm_params"] and "extra_headers" not in upstream["litellm_params"]
    one = http.get("/v1/model/info", params={"litellm_model_id": upstream["model_info"]["id"]}, headers=AUTH).json()
    assert [d["model_name"] for d in one["data"]] == ["upstream"]


def test_health_checks_each_deployment_without_leaking_secrets(http, fake):
    fake.default = Reply(json={"id": "chatcmpl-h", "object": "chat.completion", "created": 1, "model": "m",
                               "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                                            "finish_reason": "stop"}],
                               "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
    response = http.get("/health", params={"model": "upstream"}, headers=AUTH)
    assert response.status_code == 200
    report = response.json()
    assert report["healthy_count"] == 1 and report["unhealthy_count"] == 0
    assert report["healthy_endpoints"][0]["model_name"] == "upstream"
    assert UPSTREAM_KEY not in response.text
    assert fake.requests[0].json["max_tokens"] == 1
    fake.default = Reply(500, json={"error": {"message": f"down, key {UPSTREAM_KEY}", "type": "server_error"}})
    report = http.get("/health", params={"model": "upstream"}, headers=AUTH).json()
    assert report["unhealthy_count"] == 1 and "down" in report["unhealthy_endpoints"][0]["error"]
    assert UPSTREAM_KEY not in json.dumps(report)


def test_metrics_move(gateway, http):
    route = {"route": "/chat/completions"}
    requests_before = gateway.metric("polyrelay_requests_total", status="200", **route)
    tokens_before = gateway.metric("polyrelay_tokens_total", model="mock", kind="completion")
    errors_before = gateway.metric("polyrelay_errors_total", **route)
    latency_before = gateway.metric("polyrelay_request_latency_seconds_count", **route)
    ttft_before = gateway.metric("polyrelay_time_to_first_token_seconds_count", model="mock")
    for _ in range(3):
        assert chat(http).status_code == 200
    assert http.post("/v1/chat/completions", json={"model": "mock", "messages": HELLO, "stream": True},
                     headers=AUTH).status_code == 200
    assert chat(http, {"model": "mock", "messages": "bad"}).status_code == 400
    assert gateway.metric("polyrelay_requests_total", status="200", **route) == requests_before + 4
    assert gateway.metric("polyrelay_tokens_total", model="mock", kind="completion") > tokens_before
    assert gateway.metric("polyrelay_errors_total", **route) == errors_before + 1
    assert gateway.metric("polyrelay_request_latency_seconds_count", **route) == latency_before + 5
    assert gateway.metric("polyrelay_time_to_first_token_seconds_count", model="mock") == ttft_before + 1
    text = httpx.get(gateway.url + "/metrics").text
    assert "polyrelay_deployment_state" in text and "polyrelay_spend_usd_total" in text
