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
finished record with the call's own timestamps (in the gateway, in its sink
process: observe/sink_process.py), written as OTLP protobuf directly
(otlp_wire.py: the SDK's live spans cost more than the request itself) and
sent in batches by the official OTLP exporter: nothing is done on the
request path.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
from typing import Any

from . import otlp_wire

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
    # Calls per export: up to ~4 spans each, so ~2,000 spans (the SDK's BatchSpanProcessor
    # sends 512 at most; each export through the exporter's HTTP client cost ~1.5 ms of CPU,
    # a sixth of the sink process's time at batches of 100 calls).
    batch_size, retries, timeout = 500, 1, 30.0

    def __init__(self) -> None:
        try:
            from opentelemetry.sdk.resources import Resource
        except ImportError as exc:
            raise ValueError("callback 'otel' needs the OpenTelemetry SDK: pip install 'polyrelay[otel]'") from exc
        self.exporter = _exporter()
        service = os.environ.get("OTEL_SERVICE_NAME") or "polyrelay"
        # The SDK's resource: service.name, telemetry.sdk.*, OTEL_RESOURCE_ATTRIBUTES.
        self.resource = dict(Resource.create({"service.name": service}).attributes)

    def wants(self, phase: str) -> bool:
        return phase != "pre"

    async def send(self, batch: list) -> None:
        spans: list[bytes] = []
        for _, record in batch:
            spans.extend(self.emit(record.standard_logging_object()))
        body = otlp_wire.request(self.resource, "polyrelay", spans)
        if not await asyncio.to_thread(_export, self.exporter, body):
            raise RuntimeError("the OTLP endpoint did not take the spans")

    def emit(self, std: dict[str, Any]) -> list[bytes]:
        """The call's spans, encoded (otlp_wire.span), with the call's own timestamps."""
        gateway = std.get("gateway") or {}
        traceparent = gateway.get("traceparent") or (std.get("metadata") or {}).get("traceparent")
        trace_id, parent_id = parse_traceparent(traceparent) if traceparent else (None, None)
        if trace_id is None:
            trace_id = _new_id(16)
        failed = std["status"] != "success"
        out = []
        if gateway.get("request_start"):
            request_id = _new_id(8)
            request_start = _ns(gateway["request_start"])
            out.append(otlp_wire.span(trace_id, request_id, parent_id, "polyrelay.request", otlp_wire.KIND_SERVER,
                                      request_start, _ns(std["endTime"]),
                                      {"polyrelay.call_id": std["id"], "http.route": gateway.get("route") or ""},
                                      error="" if failed else None))
            parent_id = request_id
            auth_end = gateway.get("router_start") or std["startTime"]
            out.append(otlp_wire.span(trace_id, _new_id(8), parent_id, "polyrelay.auth", otlp_wire.KIND_INTERNAL,
                                      request_start, _ns(auth_end)))
            for decision in std.get("guardrail_information") or ():  # one span per guardrail decision
                guard = _guardrail_span(trace_id, parent_id, decision)
                if guard is not None:
                    out.append(guard)
        operation = OPERATIONS.get(std["call_type"], std["call_type"])
        model = std.get("model_group") or std.get("model")
        attrs = attributes(std, operation)
        error = None
        if failed:
            attrs["error.type"] = (std.get("error_information") or {}).get("error_class") or "error"
            error = std.get("error_str") or ""
        out.append(otlp_wire.span(trace_id, _new_id(8), parent_id, f"{operation} {model}", otlp_wire.KIND_CLIENT,
                                  _ns(std["startTime"]), _ns(std["endTime"]), attrs, error=error))
        return out


def _guardrail_span(trace_id: bytes, parent_id: bytes, decision: Any) -> bytes | None:
    if not isinstance(decision, dict) or not decision.get("start_time"):
        return None
    name = str(decision.get("guardrail_name") or "")
    status = str(decision.get("guardrail_status") or "")
    return otlp_wire.span(trace_id, _new_id(8), parent_id, f"polyrelay.guardrail {name}", otlp_wire.KIND_INTERNAL,
                          _ns(decision["start_time"]), _ns(decision.get("end_time") or decision["start_time"]),
                          {"polyrelay.guardrail.name": name,
                           "polyrelay.guardrail.mode": str(decision.get("guardrail_mode") or ""),
                           "polyrelay.guardrail.status": status},
                          error="the guardrail did not answer" if status == "guardrail_failed_to_respond" else None)


# W3C trace context: version-traceid-parentid-flags, lowercase hex (as the SDK's propagator reads it)
_TRACEPARENT = re.compile(r"^\s*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?\s*$")


def parse_traceparent(header: str) -> tuple[bytes | None, bytes | None]:
    """(trace id, parent span id) from a ``traceparent`` header; (None, None) when it is not valid."""
    match = _TRACEPARENT.match(header)
    if match is None:
        return None, None
    version, trace_hex, parent_hex, _, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or trace_hex == "0" * 32 or parent_hex == "0" * 16:
        return None, None
    return bytes.fromhex(trace_hex), bytes.fromhex(parent_hex)


def _new_id(size: int) -> bytes:
    while True:  # an all-zero id is invalid in OTLP
        value = random.getrandbits(size * 8)
        if value:
            return value.to_bytes(size, "big")


def _export(exporter: Any, body: bytes) -> bool:
    """Send an encoded ExportTraceServiceRequest with the official exporter (its endpoint,
    headers, compression, TLS and retries from the OTEL_EXPORTER_OTLP_* settings)."""
    client = getattr(exporter, "_client", None)
    if hasattr(client, "export") and not hasattr(exporter, "_translate_data"):  # OTLP/HTTP
        return bool(client.export(body).success)
    from opentelemetry.sdk.trace.export import SpanExportResult

    return exporter._export(body) is SpanExportResult.SUCCESS  # OTLP/gRPC: _translate_data parses the bytes


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
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        exporter = OTLPSpanExporter()
        # We hand it the request already encoded (otlp_wire.py): parsed back for the grpc stub.
        exporter._translate_data = ExportTraceServiceRequest.FromString
        exporter._count_data = lambda body: 0
        return exporter
    if protocol != "http/protobuf":
        raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not served; use http/protobuf or grpc")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()
