"""OTLP receivers on 127.0.0.1 and what they were sent.

- OTLP/HTTP: a FakeServer; ``POST /v1/traces`` bodies are protobuf
  ``ExportTraceServiceRequest``s (``spans(fake_server)``).
- OTLP/gRPC: ``GrpcCollector``, a grpc server implementing the collector's
  ``TraceService.Export`` from opentelemetry-proto's service definition; it
  keeps each request and its metadata (``spans(collector)``)."""

from __future__ import annotations

from fakeserver import Reply

OK = Reply(body=b"", headers={"content-type": "application/x-protobuf"})


def attribute_value(value):
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [attribute_value(v) for v in value.array_value.values]
    return getattr(value, kind)


class GrpcCollector:
    """``opentelemetry.proto.collector.trace.v1.TraceService`` on a free 127.0.0.1 port (insecure).
    ``fail_with`` set to a grpc.StatusCode makes Export answer that status."""

    def __init__(self) -> None:
        self.exports: list[tuple[object, dict[str, str]]] = []  # (ExportTraceServiceRequest, metadata)
        self.fail_with = None
        self._server = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "GrpcCollector":
        from concurrent import futures

        import grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

        collector = self

        class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request, context):
                if collector.fail_with is not None:
                    context.abort(collector.fail_with, "collector told to fail")
                collector.exports.append((request, dict(context.invocation_metadata())))
                return trace_service_pb2.ExportTraceServiceResponse()

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)


def _messages(receiver):
    """(ExportTraceServiceRequest, headers) for each export a receiver got."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    if isinstance(receiver, GrpcCollector):
        yield from list(receiver.exports)
        return
    for request in receiver.requests:
        assert request.path == "/v1/traces" and request.headers["content-type"] == "application/x-protobuf"
        message = ExportTraceServiceRequest()
        message.ParseFromString(request.body)
        yield message, request.headers


def spans(receiver) -> list[dict]:
    found = []
    for message, headers in _messages(receiver):
        for resource_spans in message.resource_spans:
            resource = {a.key: attribute_value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found.append({"name": span.name, "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                                  "parent_span_id": span.parent_span_id.hex(), "kind": span.kind,
                                  "start": span.start_time_unix_nano, "end": span.end_time_unix_nano,
                                  "status": span.status.code, "resource": resource, "headers": headers,
                                  "attributes": {a.key: attribute_value(a.value) for a in span.attributes}})
    return found
