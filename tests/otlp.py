"""Decoding what an OTLP/HTTP receiver (a FakeServer on 127.0.0.1) was sent:
``POST /v1/traces`` bodies are protobuf ``ExportTraceServiceRequest``s."""

from __future__ import annotations

from fakeserver import Reply

OK = Reply(body=b"", headers={"content-type": "application/x-protobuf"})


def attribute_value(value):
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [attribute_value(v) for v in value.array_value.values]
    return getattr(value, kind)


def spans(receiver) -> list[dict]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    found = []
    for request in receiver.requests:
        assert request.path == "/v1/traces" and request.headers["content-type"] == "application/x-protobuf"
        message = ExportTraceServiceRequest()
        message.ParseFromString(request.body)
        for resource_spans in message.resource_spans:
            resource = {a.key: attribute_value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found.append({"name": span.name, "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                                  "parent_span_id": span.parent_span_id.hex(), "kind": span.kind,
                                  "start": span.start_time_unix_nano, "end": span.end_time_unix_nano,
                                  "status": span.status.code, "resource": resource, "headers": request.headers,
                                  "attributes": {a.key: attribute_value(a.value) for a in span.attributes}})
    return found
