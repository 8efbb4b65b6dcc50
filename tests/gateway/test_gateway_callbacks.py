"""Callbacks in a real gateway process: a CustomLogger loaded from a .py
beside the config (its hooks rewrite, refuse, and change answers and
chunks), generic_api batches, blocked calls logged, the queue flushed at
SIGTERM, the dropped-events metric, and bad callback config refused."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from fakeserver import FakeServer, Reply, sse
from gateway_process import GatewayProcess, run_cli

HANDLER = '''
import json, os, threading
from polyrelay.integrations.custom_logger import CustomLogger
from starlette.exceptions import HTTPException


class Handler(CustomLogger):
    def _write(self, what, kwargs):
        std = kwargs["standard_logging_object"]
        with open(os.environ["EVENTS_FILE"], "a") as f:
            f.write(json.dumps({"what": what, "std": std, "thread": threading.current_thread().name},
                               default=str) + "\\n")

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._write("success", kwargs)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._write("failure", kwargs)

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        text = str(data.get("messages"))
        if "forbidden" in text:
            raise HTTPException(status_code=403, detail="topic refused by policy")
        data["max_tokens"] = 7  # rewritten before the call
        return data

    async def async_post_call_success_hook(self, data, user_api_key_dict, response):
        response["choices"][0]["message"]["content"] += " [checked]"
        return response

    async def async_post_call_streaming_hook(self, user_api_key_dict, response):
        for choice in response.get("choices") or ():
            if (choice.get("delta") or {}).get("content"):
                choice["delta"]["content"] = choice["delta"]["content"].upper()
        return response


handler = Handler()
'''

CONFIG = """
model_list:
  - model_name: gpt
    litellm_params: {model: openai/gpt-4o-mini, api_base: os.environ/UPSTREAM, api_key: sk-upstream-test-123456}
router_settings: {num_retries: 0}
litellm_settings:
  callbacks: custom_callbacks.handler
  success_callback: ["generic_api"]
  failure_callback: ["generic_api"]
"""
ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}


def chunk(content=None, finish=None, usage=None):
    choices = [] if usage else [{"index": 0, "delta": {"content": content} if content else {},
                                 "finish_reason": finish}]
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "choices": choices, **({"usage": usage} if usage else {})}


@pytest.fixture
def servers(tmp_path):
    upstream, sink = FakeServer().start(), FakeServer().start()
    sink.default = Reply(json={"ok": True})
    events = tmp_path / "events.jsonl"
    gateway = GatewayProcess(CONFIG, env={"UPSTREAM": upstream.url, "GENERIC_LOGGER_ENDPOINT": sink.url + "/logs",
                                          "EVENTS_FILE": str(events), "POLYRELAY_SINK_PROCESS": "1"})
    (gateway.config_path.parent / "custom_callbacks.py").write_text(HANDLER)
    gateway.start()
    yield gateway, upstream, sink, events
    gateway.stop()
    upstream.stop()
    sink.stop()


def read_events(path, want, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        if len(found) >= want:
            return found
        time.sleep(0.05)
    raise AssertionError(f"expected {want} events, got {len(found)}")


def test_hooks_and_logging_through_a_real_gateway(servers):
    gateway, upstream, sink, events = servers
    client = openai.OpenAI(base_url=gateway.url, api_key="anything")
    upstream.reply(Reply(json=ANSWER))
    answer = client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hello"}],
                                            extra_body={"metadata": {"tags": ["t1"]}})
    assert answer.choices[0].message.content == "Hi there [checked]"  # post-call hook
    assert upstream.requests[0].json["max_tokens"] == 7  # pre-call hook rewrote the request

    with pytest.raises(openai.PermissionDeniedError, match="topic refused by policy"):
        client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "forbidden stuff"}])
    assert len(upstream.requests) == 1  # refused before any provider was called

    upstream.reply(Reply(stream=sse(chunk("hel"), chunk("lo"), chunk(finish="stop"),
                                    chunk(usage={"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}))))
    stream = client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "s"}], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "HELLO"  # streaming hook

    found = read_events(events, 3)
    # On the gateway's own loop (as LiteLLM's proxy runs them), not a dispatcher thread.
    assert {e["thread"] for e in found} == {"MainThread"}
    by = {(e["what"], e["std"]["stream"]): e["std"] for e in found}
    ok = by[("success", False)]
    assert ok["metadata"]["tags"] == ["t1"] and ok["request_tags"] == ["t1"]
    assert ok["model_group"] == "gpt" and ok["model_id"] and ok["total_tokens"] == 7 and ok["api_base"] == upstream.url
    streamed = by[("success", True)]
    assert streamed["total_tokens"] == 6 and streamed["completionStartTime"] >= streamed["startTime"]
    blocked = by[("failure", False)]
    assert "topic refused by policy" in blocked["error_str"] and blocked["status"] == "failure"

    # The generic sink gets the same three, in batches.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and sum(len(r.json) for r in sink.requests) < 3:
        time.sleep(0.05)
    posted = [p for r in sink.requests for p in r.json]
    assert sorted(p["status"] for p in posted) == ["failure", "success", "success"]
    assert gateway.metric("polyrelay_callback_events_delivered_total", callback="generic_api") == 3


def test_call_ids_match_the_response_header(servers):
    gateway, upstream, _, events = servers
    upstream.reply(Reply(json=ANSWER))
    reply = httpx.post(gateway.url + "/chat/completions",
                       json={"model": "gpt", "messages": [{"role": "user", "content": "x"}]})
    assert reply.status_code == 200
    (event,) = read_events(events, 1)
    assert event["std"]["id"] == reply.headers["x-polyrelay-call-id"]


MASTER = "sk-callbacks-master-5a4b3c2d1e"


def test_a_virtual_keys_fields_reach_the_handler_and_the_sink_process(tmp_path):
    upstream, sink = FakeServer().start(), FakeServer().start()
    sink.default = Reply(json={"ok": True})
    events = tmp_path / "events.jsonl"
    config = CONFIG + "general_settings:\n  master_key: os.environ/CALLBACKS_MASTER_KEY\n"
    gateway = GatewayProcess(config, env={"UPSTREAM": upstream.url, "GENERIC_LOGGER_ENDPOINT": sink.url + "/logs",
                                          "EVENTS_FILE": str(events), "CALLBACKS_MASTER_KEY": MASTER})
    (gateway.config_path.parent / "custom_callbacks.py").write_text(HANDLER)
    gateway.start()
    try:
        admin = {"Authorization": f"Bearer {MASTER}"}
        made = httpx.post(gateway.url + "/team/new", headers=admin,
                          json={"team_id": "search", "team_alias": "Search team", "max_budget": 50})
        assert made.status_code == 200
        assert httpx.post(gateway.url + "/user/new", headers=admin, json={"user_id": "alice"}).status_code == 200
        issued = httpx.post(gateway.url + "/key/generate", headers=admin,
                            json={"team_id": "search", "key_alias": "ci-key", "user_id": "alice", "max_budget": 10})
        assert issued.status_code == 200, issued.text
        key = issued.json()["key"]
        upstream.reply(Reply(json=ANSWER))
        openai.OpenAI(base_url=gateway.url, api_key=key).chat.completions.create(
            model="gpt", messages=[{"role": "user", "content": "hello"}], user="end-9")
        (event,) = read_events(events, 1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not sink.requests:
            time.sleep(0.05)
        (posted,) = [p for r in sink.requests for p in r.json]
        for metadata in (event["std"]["metadata"], posted["metadata"]):  # in the gateway, and in the sink process
            assert metadata["user_api_key_alias"] == "ci-key" and metadata["user_api_key_team_id"] == "search"
            assert metadata["user_api_key_user_id"] == "alice" and metadata["user_api_key_team_alias"] == "Search team"
            assert metadata["user_api_key_max_budget"] == 10 and metadata["user_api_key_team_max_budget"] == 50
            assert metadata["user_api_key_hash"] and key not in json.dumps(metadata)  # hashed: never the key itself
            assert metadata["end_user"] == metadata["user_api_key_end_user_id"] == "end-9"
            assert "user_api_key_org_id" in metadata and "key_fields" not in metadata
    finally:
        gateway.stop()
        upstream.stop()
        sink.stop()


SINK_ONLY = """
model_list:
  - model_name: gpt
    litellm_params: {model: openai/gpt-4o-mini, api_base: os.environ/UPSTREAM, api_key: sk-upstream-test-123456}
litellm_settings: {success_callback: [generic_api]}
"""


# 1: the service sinks in the sink process (the default); 0: on the gateway's own loop.
@pytest.mark.parametrize("sink_process", ["1", "0"])
def test_queued_records_are_flushed_at_sigterm(tmp_path, sink_process):
    upstream, sink = FakeServer().start(), FakeServer().start()
    sink.default = Reply(json={}, delay=0.3)  # slow enough that records are still queued at SIGTERM
    upstream.default = Reply(json=ANSWER)
    gateway = GatewayProcess(SINK_ONLY, env={"UPSTREAM": upstream.url, "GENERIC_LOGGER_ENDPOINT": sink.url,
                                             "POLYRELAY_SINK_PROCESS": sink_process}).start()
    try:
        for _ in range(5):
            httpx.post(gateway.url + "/chat/completions", json={"model": "gpt", "messages": [{"role": "user",
                                                                                               "content": "x"}]})
        gateway.proc.terminate()
        gateway.proc.wait(timeout=20)
        assert sum(len(r.json) for r in sink.requests) == 5
    finally:
        gateway.stop()
        upstream.stop()
        sink.stop()


@pytest.mark.parametrize("sink_process", ["1", "0"])
def test_a_sink_that_takes_ten_seconds_delays_no_call(sink_process):
    upstream, sink = FakeServer().start(), FakeServer().start()
    sink.default = Reply(json={}, delay=10)
    upstream.default = Reply(json=ANSWER)
    gateway = GatewayProcess(SINK_ONLY, env={"UPSTREAM": upstream.url, "GENERIC_LOGGER_ENDPOINT": sink.url,
                                             "POLYRELAY_SINK_PROCESS": sink_process}).start()
    try:
        client = openai.OpenAI(base_url=gateway.url, api_key="anything", max_retries=0)
        took = []
        for _ in range(20):
            started = time.monotonic()
            client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "x"}])
            took.append(time.monotonic() - started)
        assert max(took) < 2.0  # every call answered while its record waits on the 10 s sink
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not sink.requests:
            time.sleep(0.05)
        assert sink.requests  # the records did go out (and the sink is still answering them)
    finally:
        gateway.proc.kill()  # not a 10 s flush
        gateway.stop()
        upstream.stop()
        sink.stop()


@pytest.mark.parametrize("entry, message", [
    ("datadogg", "litellm_settings.success_callback[0]: callback 'datadogg' is not one polyrelay serves"),
    ("missing_module.handler", "litellm_settings.success_callback[0] 'missing_module.handler' could not be loaded"),
    ("langfuse", "LANGFUSE_PUBLIC_KEY"),
])
def test_bad_callback_config_stops_start_up_naming_it(tmp_path, entry, message):
    config = tmp_path / "config.yaml"
    config.write_text(f"model_list: []\nlitellm_settings: {{success_callback: [{entry}]}}\n")
    result = run_cli("--config", str(config), env={"LANGFUSE_PUBLIC_KEY": "", "LANGFUSE_SECRET_KEY": ""})
    assert result.returncode != 0
    assert message in result.stderr + result.stdout


def test_prometheus_callback_exports_litellm_metric_names_and_labels():
    upstream = FakeServer().start()
    gateway = GatewayProcess("""
model_list:
  - model_name: gpt
    litellm_params: {model: openai/gpt-4o-mini, api_base: os.environ/UPSTREAM, api_key: sk-upstream-test-123456}
router_settings: {num_retries: 0}
litellm_settings: {callbacks: [prometheus]}
general_settings: {master_key: sk-master-prom-123456}
""", env={"UPSTREAM": upstream.url}).start()
    try:
        admin = {"Authorization": "Bearer sk-master-prom-123456"}
        made = httpx.post(gateway.url + "/key/generate", headers=admin,
                          json={"key_alias": "search-app", "max_budget": 10.0}).json()
        client = openai.OpenAI(base_url=gateway.url, api_key=made["key"])
        upstream.reply(Reply(json=ANSWER))
        client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "x"}], user="u-1")
        upstream.reply(Reply(stream=sse(chunk("a"), chunk(finish="stop"),
                                        chunk(usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}))))
        list(client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "x"}], stream=True))
        upstream.reply(Reply(429, json={"error": {"message": "slow down", "type": "rate_limit"}}))
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "x"}])
        key = {"api_key_alias": "search-app"}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and gateway.metric("litellm_proxy_failed_requests_metric_total") < 1:
            time.sleep(0.1)
        assert gateway.metric("litellm_requests_metric_total", model="gpt-4o-mini", **key) == 2
        assert gateway.metric("litellm_requests_metric_total", end_user="u-1", **key) == 1
        assert gateway.metric("litellm_spend_metric_total", **key) > 0
        assert gateway.metric("litellm_total_tokens_total", **key) == 7 + 2
        assert gateway.metric("litellm_input_tokens_metric_total", requested_model="gpt", **key) == 5 + 1
        assert gateway.metric("litellm_proxy_failed_requests_metric_total", exception_status="429",
                              exception_class="RateLimitError", **key) == 1
        assert gateway.metric("litellm_llm_api_time_to_first_token_metric_count", **key) == 1
        assert gateway.metric("litellm_request_total_latency_metric_count", requested_model="gpt") == 2
        assert 0 < gateway.metric("litellm_remaining_api_key_budget_metric", **key) < 10
        assert gateway.metric("litellm_api_key_max_budget_metric", **key) == 10
        assert gateway.metric("litellm_deployment_failure_responses_total", requested_model="gpt",
                              api_provider="openai") == 1
        assert gateway.metric("polyrelay_requests_total") > 0  # ours stay beside them
    finally:
        gateway.stop()
        upstream.stop()


def test_detailed_debug_with_json_logs_prints_upstream_traffic_as_json_lines_keys_masked():
    upstream = FakeServer().start()
    upstream.default = Reply(json=ANSWER)
    gateway = GatewayProcess("""
model_list:
  - model_name: gpt
    litellm_params: {model: openai/gpt-4o-mini, api_base: os.environ/UPSTREAM, api_key: sk-upstream-secret-99887766}
litellm_settings: {json_logs: true}
""", env={"UPSTREAM": upstream.url}, args=("--detailed_debug",)).start()
    try:
        reply = httpx.post(gateway.url + "/chat/completions",
                           json={"model": "gpt", "messages": [{"role": "user", "content": "ping-42"}]})
        assert reply.status_code == 200
        time.sleep(0.5)
    finally:
        gateway.proc.terminate()
        gateway.proc.wait(timeout=20)
        text = gateway.log
        gateway.stop()
        upstream.stop()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is one JSON object
    assert all({"timestamp", "level", "message"} <= set(line) for line in lines)
    sent = [line["message"] for line in lines if "ping-42" in line["message"]]
    assert sent and any("Hi there" in line["message"] for line in lines)  # the request and the raw answer
    assert "sk-upstream-secret-99887766" not in text


def test_unknown_log_level_stops_start_up():
    result = run_cli("--model", "mock/x", env={"LITELLM_LOG": "LOUD"})
    assert result.returncode == 2 and "LITELLM_LOG='LOUD' is not a log level" in result.stderr


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_otel_spans_are_children_of_the_callers_traceparent(protocol):
    from otlp import OK, GrpcCollector, spans

    upstream = FakeServer().start()
    if protocol == "grpc":
        receiver = GrpcCollector().start()
    else:
        receiver = FakeServer().start()
        receiver.default = OK
    upstream.default = Reply(json=ANSWER)
    gateway = GatewayProcess("""
model_list:
  - model_name: gpt
    litellm_params: {model: openai/gpt-4o-mini, api_base: os.environ/UPSTREAM, api_key: sk-upstream-test-123456}
litellm_settings: {callbacks: [otel]}
guardrails:
  - guardrail_name: no-words
    litellm_params: {guardrail: keywords, mode: pre_call, keywords: [forbidden], default_on: true}
""", env={"UPSTREAM": upstream.url, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
          "OTEL_EXPORTER_OTLP_PROTOCOL": protocol}).start()
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    try:
        reply = httpx.post(gateway.url + "/chat/completions",
                           headers={"traceparent": f"00-{trace_id}-{parent_id}-01"},
                           json={"model": "gpt", "messages": [{"role": "user", "content": "x"}]})
        assert reply.status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(spans(receiver)) < 4:
            time.sleep(0.1)
    finally:
        gateway.stop()
        upstream.stop()
        receiver.stop()
    by_name = {s["name"]: s for s in spans(receiver)}
    request, auth, call = by_name["polyrelay.request"], by_name["polyrelay.auth"], by_name["chat gpt"]
    assert {request["trace_id"], auth["trace_id"], call["trace_id"]} == {trace_id}
    assert request["parent_span_id"] == parent_id and request["kind"] == 2  # SERVER
    assert auth["parent_span_id"] == call["parent_span_id"] == request["span_id"]
    guard = by_name["polyrelay.guardrail no-words"]
    assert guard["parent_span_id"] == request["span_id"] and guard["trace_id"] == trace_id
    assert guard["attributes"]["polyrelay.guardrail.mode"] == "pre_call"
    assert guard["attributes"]["polyrelay.guardrail.status"] == "success"
    assert request["start"] <= guard["start"] <= guard["end"] <= call["start"]
    assert request["start"] <= auth["start"] <= auth["end"] <= call["start"] <= call["end"] <= request["end"]
    assert call["attributes"]["polyrelay.call_id"] == reply.headers["x-polyrelay-call-id"]
    assert call["attributes"]["gen_ai.request.model"] == "gpt" and call["attributes"]["gen_ai.usage.input_tokens"] == 5


def test_an_unknown_sink_process_setting_stops_start_up_naming_it(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("model_list: []\nlitellm_settings: {success_callback: [generic_api]}\n")
    result = run_cli("--config", str(config), "--port", "1",
                     env={"POLYRELAY_SINK_PROCESS": "yes", "GENERIC_LOGGER_ENDPOINT": "http://127.0.0.1:9/logs"})
    assert result.returncode == 2
    assert "POLYRELAY_SINK_PROCESS='yes' is not served" in result.stderr and "Traceback" not in result.stderr


def test_service_sinks_run_in_a_sink_process_of_the_gateway(servers):
    gateway, upstream, sink, _ = servers
    children = []
    for entry in __import__("os").listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == gateway.proc.pid:
            children.append(cmdline)
    assert any("polyrelay.observe.sink_process" in c for c in children), children
    upstream.reply(Reply(json=ANSWER))
    assert httpx.post(gateway.url + "/chat/completions",
                      json={"model": "gpt", "messages": [{"role": "user", "content": "x"}]}).status_code == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not sink.requests:
        time.sleep(0.05)
    assert [p["status"] for r in sink.requests for p in r.json] == ["success"]  # delivered by the sink process


def test_two_service_sinks_in_the_sink_process_each_get_every_record_and_their_own_counts(tmp_path):
    """Records for several service sinks cross to the sink process once, as one line
    for all of them: each sink still gets every record and /metrics counts by callback."""
    upstream, sink = FakeServer().start(), FakeServer().start()
    sink.default = Reply(207, json={"successes": [], "errors": []})
    config = CONFIG.replace("  callbacks: custom_callbacks.handler\n", "").replace(
        '["generic_api"]', '["generic_api", "langfuse"]')
    gateway = GatewayProcess(config, env={"UPSTREAM": upstream.url, "GENERIC_LOGGER_ENDPOINT": sink.url + "/logs",
                                          "LANGFUSE_HOST": sink.url, "LANGFUSE_PUBLIC_KEY": "pk-lf-1",
                                          "LANGFUSE_SECRET_KEY": "sk-lf-1", "POLYRELAY_SINK_PROCESS": "1"})
    try:
        gateway.start()
        upstream.default = Reply(json=ANSWER)
        for _ in range(3):
            assert httpx.post(gateway.url + "/chat/completions",
                              json={"model": "gpt", "messages": [{"role": "user", "content": "x"}]}).status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
                gateway.metric("polyrelay_callback_events_delivered_total", callback="langfuse") != 3
                or gateway.metric("polyrelay_callback_events_delivered_total", callback="generic_api") != 3):
            time.sleep(0.1)
        generic = [p for r in sink.requests if r.path == "/logs" for p in r.json]
        langfuse = [e for r in sink.requests if r.path == "/api/public/ingestion" for e in r.json["batch"]]
        assert len(generic) == 3 and len({p["id"] for p in generic}) == 3
        assert sorted(e["type"] for e in langfuse) == ["generation-create"] * 3 + ["trace-create"] * 3
        assert gateway.metric("polyrelay_callback_events_delivered_total", callback="generic_api") == 3
        assert gateway.metric("polyrelay_callback_events_delivered_total", callback="langfuse") == 3
    finally:
        gateway.stop()
        upstream.stop()
        sink.stop()
