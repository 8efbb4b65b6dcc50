"""``otel``: a span per call over OTLP, with the official OpenTelemetry SDK.

Settings are OpenTelemetry's own environment variables:
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``),
``OTEL_EXPORTER_OTLP_PROTOCOL`` (``http/protobuf``, the default, or ``grpc``
with the ``otel-grpc`` extra: opentelemetry-exporter-otlp-proto-grpc),
``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_SERVICE_NAME``.

The span follows the GenAI semantic conventions: named
``"{gen_ai.operation.name} {gen_ai.request.model}"``, kind CLIENT, with
``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.model``,
``gen_ai.response.model``, ``gen_ai.response.id``, ``gen_ai.usage.input_tokens``,
``gen_ai.usage.output_tokens``, request parameters, and ``error.type`` with
status ERROR on failure. Cost, key and team are ``polyrelay.*`` attributes.

In the gateway the call also gets a ``polyrelay.request`` SERVER span (the
whole request, child of the caller's ``traceparent`` when it sent one) with
a ``polyrelay.auth`` child (authentication, limits and budgets, up to the
Router), a ``polyrelay.guardrail {name}`` child per guardrail decision (its
mode and status as attributes) and the GenAI span as the provider call. Spans are made from the
finished record on the dispatcher's thread, with the call's own timestamps,
and exported in batches there: nothing is done on the request path.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

OPERATIONS = {"acompletion": "chat", "atext_completion": "text_completion", "aembedding": "embeddings",
              "amoderation": "moderation"}
PARAMS = {"temperature": "gen_ai.request.temperature", "max_tokens": "gen_ai.request.max_tokens",
          "max_completion_tokens": "gen_ai.request.max_tokens", "top_p": "gen_ai.request.top_p",
          "frequency_penalty": "gen_ai.request.frequency_penalty",
          "presence_penalty": "gen_ai.request.presence_penalty", "seed": "gen_ai.request.seed"}


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


class OTelSink:
    name = "otel"
    batch_size, retries, timeout = 100, 1, 30.0

    def __init__(self) -> None:
        try:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
        except ImportError as exc:
            raise ValueError("callback 'otel' needs the OpenTelemetry SDK: pip install 'polyrelay[otel]'") from exc
        self.exporter = _exporter()

        class Collect(SpanProcessor):
            """Ended spans, kept for the sink to export itself (so a failed export is retried and counted)."""

            def __init__(self) -> None:
                self.ended: list = []

            def on_end(self, span) -> None:
                self.ended.append(span)

        self._collect = Collect()
        service = os.environ.get("OTEL_SERVICE_NAME") or "polyrelay"
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(self._collect)
        self.tracer = provider.get_tracer("polyrelay")

    def wants(self, phase: str) -> bool:
        return phase != "pre"

    async def send(self, batch: list) -> None:
        from opentelemetry.sdk.trace.export import SpanExportResult

        for _, record in batch:
            self.emit(record.standard_logging_object())
        spans, self._collect.ended = self._collect.ended, []
        result = await asyncio.to_thread(self.exporter.export, spans)
        if result is not SpanExportResult.SUCCESS:
            raise RuntimeError("the OTLP endpoint did not take the spans")

    def emit(self, std: dict[str, Any]) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        gateway = std.get("gateway") or {}
        parent = None
        traceparent = gateway.get("traceparent") or (std.get("metadata") or {}).get("traceparent")
        if traceparent:
            parent = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
        failed = std["status"] != "success"
        request_span = None
        if gateway.get("request_start"):
            request_span = self.tracer.start_span(
                "polyrelay.request", context=parent, kind=SpanKind.SERVER, start_time=_ns(gateway["request_start"]),
                attributes={"polyrelay.call_id": std["id"], "http.route": gateway.get("route") or ""})
            parent = trace.set_span_in_context(request_span)
            auth_end = gateway.get("router_start") or std["startTime"]
            auth = self.tracer.start_span("polyrelay.auth", context=parent, start_time=_ns(gateway["request_start"]))
            auth.end(end_time=_ns(auth_end))
            for decision in std.get("guardrail_information") or ():  # one span per guardrail decision
                self._guardrail_span(parent, decision)
        operation = OPERATIONS.get(std["call_type"], std["call_type"])
        model = std.get("model_group") or std.get("model")
        span = self.tracer.start_span(f"{operation} {model}", context=parent, kind=SpanKind.CLIENT,
                                      start_time=_ns(std["startTime"]), attributes=attributes(std, operation))
        if failed:
            error = std.get("error_information") or {}
            span.set_attribute("error.type", error.get("error_class") or "error")
            span.set_status(Status(StatusCode.ERROR, std.get("error_str") or ""))
        span.end(end_time=_ns(std["endTime"]))
        if request_span is not None:
            if failed:
                request_span.set_status(Status(StatusCode.ERROR))
            request_span.end(end_time=_ns(std["endTime"]))


    def _guardrail_span(self, parent, decision: dict[str, Any]) -> None:
        from opentelemetry.trace import Status, StatusCode

        if not isinstance(decision, dict) or not decision.get("start_time"):
            return
        name = str(decision.get("guardrail_name") or "")
        status = str(decision.get("guardrail_status") or "")
        span = self.tracer.start_span(f"polyrelay.guardrail {name}", context=parent,
                                      start_time=_ns(decision["start_time"]), attributes={
                                          "polyrelay.guardrail.name": name,
                                          "polyrelay.guardrail.mode": str(decision.get("guardrail_mode") or ""),
                                          "polyrelay.guardrail.status": status})
        if status == "guardrail_failed_to_respond":
            span.set_status(Status(StatusCode.ERROR, "the guardrail did not answer"))
        span.end(end_time=_ns(decision.get("end_time") or decision["start_time"]))


def attributes(std: dict[str, Any], operation: str) -> dict[str, Any]:
    meta = std.get("metadata") or {}
    response = std.get("response") if isinstance(std.get("response"), dict) else {}
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": std.get("custom_llm_provider") or "",
        "gen_ai.request.model": std.get("model_group") or std.get("model") or "",
        "gen_ai.response.model": response.get("model") or std.get("model") or "",
        "gen_ai.usage.input_tokens": std.get("prompt_tokens") or 0,
        "gen_ai.usage.output_tokens": std.get("completion_tokens") or 0,
        "polyrelay.call_id": std["id"],
        "polyrelay.response_cost": std.get("response_cost") or 0.0,
        "polyrelay.model_id": std.get("model_id") or "",
        "polyrelay.cache_hit": bool(std.get("cache_hit")),
        "polyrelay.stream": bool(std.get("stream")),
    }
    if response.get("id"):
        attrs["gen_ai.response.id"] = response["id"]
    reasons = [c.get("finish_reason") for c in response.get("choices") or () if isinstance(c, dict)
               and c.get("finish_reason")]
    if reasons:
        attrs["gen_ai.response.finish_reasons"] = reasons
    for name, attribute in PARAMS.items():
        value = (std.get("model_parameters") or {}).get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attrs[attribute] = value
    for field, attribute in (("user_api_key_hash", "polyrelay.key_hash"), ("user_api_key_alias", "polyrelay.key_alias"),
                             ("user_api_key_team_id", "polyrelay.team_id"), ("user_api_key_user_id", "polyrelay.user_id"),
                             ("end_user", "polyrelay.end_user")):
        if meta.get(field):
            attrs[attribute] = str(meta[field])
    return attrs


def _exporter():
    protocol = (os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf").strip().lower()
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise ValueError("OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs opentelemetry-exporter-otlp-proto-grpc: "
                             "pip install 'polyrelay[otel-grpc]' (or use http/protobuf)") from exc
        return OTLPSpanExporter()
    if protocol != "http/protobuf":
        raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not served; use http/protobuf or grpc")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()
