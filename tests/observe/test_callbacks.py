"""The callback API in the SDK: CustomLogger, functions, names; the standard
logging payload for answers, streams and failures; sinks that fail never
reach the caller."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import pytest

import polyrelay
from fakeserver import FakeServer, Reply
from polyrelay.integrations.custom_logger import CustomLogger
from polyrelay.observe import DISPATCHER

FIXTURES = Path(__file__).parent.parent / "providers" / "fixtures" / "openai"
MESSAGES = [{"role": "user", "content": "Tell me a secret recipe"}]
KEY = "sk-test-abcdefghijklmnop1234"
STD_FIELDS = {"id", "call_type", "status", "response_cost", "prompt_tokens", "completion_tokens", "total_tokens",
              "cached_tokens", "startTime", "endTime", "completionStartTime", "model", "model_group", "model_id",
              "custom_llm_provider", "api_base", "cache_hit", "messages", "response", "error_str", "metadata",
              "request_tags", "guardrail_information"}


def answer(fake):
    fake.reply(Reply(json=json.loads((FIXTURES / "chat_completion.json").read_text())))


def chat(fake, **kwargs):
    return polyrelay.completion(model="openai/gpt-4o", messages=MESSAGES, api_base=fake.url, api_key=KEY, **kwargs)


class Recorder(CustomLogger):
    def __init__(self):
        super().__init__()
        self.events = []

    def log_pre_api_call(self, model, messages, kwargs):
        self.events.append(("pre", model, messages))

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.events.append(("sync_success", kwargs, response_obj, start_time, end_time))

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.events.append(("success", kwargs, response_obj, start_time, end_time))

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self.events.append(("failure", kwargs, response_obj, start_time, end_time))


def of(events, kind):
    return [e for e in events if e[0] == kind]


def test_custom_logger_gets_every_method_and_the_standard_payload(fake):
    assert polyrelay.CustomLogger is CustomLogger
    handler = Recorder()
    polyrelay.callbacks = [handler]
    answer(fake)
    response = chat(fake, metadata={"tags": ["prod"], "team": "search"}, user="end-7")
    assert DISPATCHER.flush(10)
    assert [e[0] for e in handler.events].count("success") == 1
    assert of(handler.events, "pre")[0][1] == "openai/gpt-4o"
    (_, kwargs, obj, start, end), = of(handler.events, "success")
    assert of(handler.events, "sync_success")  # the sync method too, as LiteLLM calls both
    assert obj.choices[0].message.content == response.choices[0].message.content
    assert start <= end and "api_key" not in kwargs
    std = kwargs["standard_logging_object"]
    assert STD_FIELDS <= set(std)
    assert std["status"] == "success" and std["call_type"] == "acompletion"
    assert std["prompt_tokens"] == response.usage.prompt_tokens and std["total_tokens"] == response.usage.total_tokens
    assert std["response_cost"] == pytest.approx(response._hidden_params["response_cost"]) and std["response_cost"] > 0
    assert std["custom_llm_provider"] == "openai" and std["api_base"] == fake.url
    assert std["messages"] == MESSAGES and std["request_tags"] == ["prod"]
    assert std["metadata"]["team"] == "search" and std["metadata"]["end_user"] == "end-7"
    assert std["cache_hit"] is False and std["error_str"] is None
    assert std["startTime"] <= std["completionStartTime"] <= std["endTime"]


def test_plain_functions_as_success_and_failure_callbacks(fake):
    seen = []
    polyrelay.success_callback = [lambda kwargs, obj, s, e: seen.append(("ok", kwargs["standard_logging_object"]))]
    polyrelay.failure_callback = [lambda kwargs, obj, s, e: seen.append(("bad", kwargs["standard_logging_object"],
                                                                         kwargs["exception"]))]
    answer(fake)
    chat(fake)
    fake.reply(Reply(500, json={"error": {"message": "upstream broke", "type": "server_error"}}))
    with pytest.raises(polyrelay.InternalServerError):
        chat(fake, num_retries=0)
    assert DISPATCHER.flush(10)
    assert [s[0] for s in seen] == ["ok", "bad"]
    failed = seen[1][1]
    assert failed["status"] == "failure" and "upstream broke" in failed["error_str"]
    assert failed["error_information"]["error_code"] == "500" and isinstance(seen[1][2], polyrelay.InternalServerError)
    assert failed["response"] is None


def test_stream_is_logged_once_at_its_end_with_usage_and_first_token_time(fake):
    handler = Recorder()
    polyrelay.callbacks = [handler]
    fake.reply(Reply(stream=[(FIXTURES / "chat_stream.txt").read_bytes()]))
    chunks = list(chat(fake, stream=True))
    assert DISPATCHER.flush(10)
    (_, kwargs, obj, _, _), = of(handler.events, "success")
    std = kwargs["standard_logging_object"]
    assert std["stream"] is True and std["total_tokens"] == 11 and std["prompt_tokens"] == 9
    assert std["startTime"] < std["completionStartTime"] <= std["endTime"]
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert obj.choices[0].message.content == text == "Hello!"


def test_async_calls_log_after_their_loop_is_gone(fake):
    handler = Recorder()
    polyrelay.success_callback = [handler]
    answer(fake)

    async def main():
        await polyrelay.acompletion(model="openai/gpt-4o", messages=MESSAGES, api_base=fake.url, api_key=KEY)

    asyncio.run(main())  # the caller's loop closes at once; the record is on the dispatcher's
    assert DISPATCHER.flush(10)
    assert len(of(handler.events, "success")) == 1


def test_unknown_callback_name_is_refused_by_name(fake):
    polyrelay.success_callback = ["datadogg"]
    with pytest.raises(ValueError, match="datadogg"):
        chat(fake)


@pytest.fixture
def sink():
    server = FakeServer().start()
    yield server
    server.stop()


def test_generic_api_posts_batches_with_its_headers(fake, sink, monkeypatch):
    monkeypatch.setenv("GENERIC_LOGGER_ENDPOINT", sink.url + "/log")
    monkeypatch.setenv("GENERIC_LOGGER_HEADERS", "Authorization=Bearer sink-token,X-Team=obs")
    sink.default = Reply(json={"ok": True})
    polyrelay.success_callback = ["generic_api"]
    fake.default = Reply(json=json.loads((FIXTURES / "chat_completion.json").read_text()))
    for _ in range(3):
        chat(fake)
    assert DISPATCHER.flush(10)
    posted = [item for r in sink.requests for item in r.json]
    assert len(posted) == 3 and len(sink.requests) < 3  # batched
    assert sink.requests[0].headers["authorization"] == "Bearer sink-token"
    assert sink.requests[0].headers["x-team"] == "obs"
    assert {p["status"] for p in posted} == {"success"} and len({p["id"] for p in posted}) == 3


@pytest.mark.parametrize("trouble", ["500", "down", "slow"])
def test_a_sink_in_trouble_changes_nothing_for_callers(fake, sink, monkeypatch, trouble):
    if trouble == "down":
        sink.stop()
    elif trouble == "500":
        sink.default = Reply(500, json={"error": "sink broke"})
    else:
        sink.default = Reply(json={}, delay=10)
        monkeypatch.setattr("polyrelay.observe.sinks.generic.GenericAPISink.timeout", 0.3)
    monkeypatch.setenv("GENERIC_LOGGER_ENDPOINT", sink.url + "/log")
    polyrelay.success_callback = ["generic_api"]
    fake.default = Reply(json=json.loads((FIXTURES / "chat_completion.json").read_text()))
    dropped = DISPATCHER.dropped["generic_api"]
    started = time.perf_counter()
    answers = [chat(fake) for _ in range(3)]
    calls_took = time.perf_counter() - started
    assert all(a.choices[0].message.content for a in answers)
    assert DISPATCHER.flush(20)
    assert DISPATCHER.dropped["generic_api"] - dropped == 3  # every try failed: counted, not raised
    if trouble == "500":
        assert len(sink.requests) >= 2  # retried with backoff
    assert calls_took < 5  # the 10 s sink was never waited for


def test_turn_off_message_logging_keeps_text_out_of_every_sink(fake, sink, monkeypatch):
    monkeypatch.setenv("GENERIC_LOGGER_ENDPOINT", sink.url + "/log")
    sink.default = Reply(json={})
    handler = Recorder()
    polyrelay.callbacks = [handler, "generic_api"]
    fake.default = Reply(json=json.loads((FIXTURES / "chat_completion.json").read_text()))
    chat(fake, metadata={"turn_off_message_logging": True})  # per request
    polyrelay.turn_off_message_logging = True  # and for every call
    fake.reply(Reply(stream=[(FIXTURES / "chat_stream.txt").read_bytes()]))
    list(chat(fake, stream=True))
    fake.reply(Reply(400, json={"error": {"message": "Tell me a secret recipe is not allowed", "type": "x"}}))
    with pytest.raises(polyrelay.BadRequestError):
        chat(fake)
    assert DISPATCHER.flush(10)
    answer_text = json.loads((FIXTURES / "chat_completion.json").read_text())["choices"][0]["message"]["content"]
    sent = b"".join(r.body for r in sink.requests).decode()
    logged = repr([e[1:] for e in handler.events if e[0] != "pre"])
    for text in (sent, logged):
        assert "secret recipe" not in text and answer_text not in text and "Hello!" not in text
        assert "redacted-by-polyrelay" in text
    posted = [p for r in sink.requests for p in r.json]
    assert len(posted) == 3 and all(p["total_tokens"] for p in posted if p["status"] == "success")


def test_langfuse_gets_a_trace_and_a_generation_with_mapped_metadata(fake, sink, monkeypatch):
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk-lf-public")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-lf-secret")
    monkeypatch.setenv("LANGFUSE_HOST", sink.url)
    sink.default = Reply(207, json={"successes": [], "errors": []})
    polyrelay.success_callback = ["langfuse"]
    polyrelay.failure_callback = ["langfuse"]
    answer(fake)
    chat(fake, metadata={"generation_name": "recipe-gen", "generation_id": "gen-1", "trace_id": "trace-9",
                         "trace_user_id": "alice", "session_id": "sess-1", "tags": ["a", "b"],
                         "trace_name": "recipes", "trace_metadata": {"app": "kitchen"}})
    fake.reply(Reply(500, json={"error": {"message": "boom", "type": "server_error"}}))
    with pytest.raises(polyrelay.InternalServerError):
        chat(fake, num_retries=0, metadata={"existing_trace_id": "trace-9"})
    assert DISPATCHER.flush(10)
    request = sink.requests[0]
    assert request.path == "/api/public/ingestion"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"pk-lf-public:sk-lf-secret").decode()
    events = [e for r in sink.requests for e in r.json["batch"]]
    traces = [e["body"] for e in events if e["type"] == "trace-create"]
    generations = [e["body"] for e in events if e["type"] == "generation-create"]
    assert len(traces) == 1 and len(generations) == 2  # the existing trace is not created again
    trace = traces[0]
    assert trace["id"] == "trace-9" and trace["name"] == "recipes" and trace["userId"] == "alice"
    assert trace["sessionId"] == "sess-1" and trace["tags"] == ["a", "b"] and trace["metadata"]["app"] == "kitchen"
    ok, bad = sorted(generations, key=lambda g: g["level"] == "ERROR")
    assert ok["id"] == "gen-1" and ok["name"] == "recipe-gen" and ok["traceId"] == "trace-9"
    assert ok["usage"]["total"] > 0 and ok["costDetails"]["total"] > 0 and ok["model"]
    assert ok["input"] == MESSAGES and ok["output"]["content"]
    assert bad["level"] == "ERROR" and "boom" in bad["statusMessage"] and bad["traceId"] == "trace-9"


def test_langfuse_timestamps_are_utc_iso_8601_to_the_microsecond():
    import datetime
    import random

    from polyrelay.observe.sinks.langfuse import iso

    assert iso(None) is None and iso(1796302824.5) == "2026-12-03T13:00:24.500000Z"
    for epoch in [0.0, 1796302824.9999999] + [random.uniform(1e9, 2e9) for _ in range(2_000)]:
        parsed = datetime.datetime.fromisoformat(iso(epoch).replace("Z", "+00:00"))
        assert abs(parsed.timestamp() - epoch) < 2e-6


def test_langfuse_batches_stay_under_its_body_limit(fake, sink, monkeypatch):
    """Langfuse takes at most 3.5 MB a request: a batch of large prompts goes in several."""
    from polyrelay.observe.sinks import langfuse

    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk-lf-public")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-lf-secret")
    monkeypatch.setenv("LANGFUSE_HOST", sink.url)
    monkeypatch.setattr(langfuse, "MAX_BODY_BYTES", 40_000)  # the real limit, scaled down with the prompts
    sink.default = Reply(207, json={"successes": [], "errors": []})
    polyrelay.success_callback = ["langfuse"]
    fake.default = Reply(json=json.loads((FIXTURES / "chat_completion.json").read_text()))
    prompt = [{"role": "user", "content": "x" * 5_000}]
    for _ in range(8):  # 8 calls, each two events quoting the 5 KB prompt: ~80 KB in all
        polyrelay.completion(model="openai/gpt-4o", messages=prompt, api_base=fake.url, api_key=KEY)
    assert DISPATCHER.flush(10)
    assert len(sink.requests) >= 2 and all(len(r.body) <= 40_000 for r in sink.requests)
    events = [e for r in sink.requests for e in r.json["batch"]]
    assert len(events) == 16 and len({e["id"] for e in events}) == 16


@pytest.fixture(params=["http/protobuf", "grpc"])
def otlp_receiver(request, sink, monkeypatch):
    """An OTLP receiver on 127.0.0.1 for each protocol: a FakeServer for http/protobuf, a grpc
    TraceService collector for grpc; the exporter is pointed at it through OpenTelemetry's variables."""
    from otlp import OK, GrpcCollector

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", request.param)
    if request.param == "grpc":
        receiver = GrpcCollector().start()
        request.addfinalizer(receiver.stop)
    else:
        receiver, sink.default = sink, OK
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    return receiver


def test_otel_exports_a_genai_span_per_call_over_otlp(fake, otlp_receiver, monkeypatch):
    from otlp import spans

    sink = otlp_receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=obs")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "my-llm-app")
    polyrelay.callbacks = ["otel"]
    answer(fake)
    chat(fake, temperature=0.2, max_tokens=50)
    fake.reply(Reply(429, json={"error": {"message": "slow down", "type": "rate_limit"}}))
    with pytest.raises(polyrelay.RateLimitError):
        chat(fake, num_retries=0)
    assert DISPATCHER.flush(10)
    ok, bad = sorted(spans(sink), key=lambda s: s["status"])
    assert ok["name"] == "chat openai/gpt-4o" and ok["kind"] == 3  # SPAN_KIND_CLIENT
    assert ok["resource"]["service.name"] == "my-llm-app" and ok["headers"]["x-tenant"] == "obs"
    attrs = ok["attributes"]
    assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == "openai/gpt-4o" and attrs["gen_ai.response.model"] == "gpt-4.1-2025-04-14"
    assert attrs["gen_ai.usage.input_tokens"] == 19 and attrs["gen_ai.usage.output_tokens"] == 10
    assert attrs["gen_ai.request.temperature"] == 0.2 and attrs["gen_ai.request.max_tokens"] == 50
    assert attrs["gen_ai.response.finish_reasons"] == ["stop"] and attrs["polyrelay.response_cost"] > 0
    assert ok["end"] > ok["start"]
    assert bad["status"] == 2 and bad["attributes"]["error.type"] == "RateLimitError"  # STATUS_CODE_ERROR


def test_an_otlp_grpc_collector_that_refuses_changes_nothing_for_callers(fake, monkeypatch):
    import grpc
    from otlp import GrpcCollector

    from polyrelay.observe.sinks.otel import OTelSink

    collector = GrpcCollector().start()
    collector.fail_with = grpc.StatusCode.INVALID_ARGUMENT  # not retryable in OTLP: the export fails at once
    monkeypatch.setattr(OTelSink, "retries", 0)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    try:
        polyrelay.callbacks = ["otel"]
        answer(fake)
        dropped = DISPATCHER.dropped["otel"]
        assert chat(fake).choices[0].message.content
        assert DISPATCHER.flush(20)
        assert DISPATCHER.dropped["otel"] - dropped == 1 and collector.exports == []
    finally:
        collector.stop()
