"""OTLP trace protobuf, written directly: an ``ExportTraceServiceRequest``'s
bytes from plain span tuples.

Why not SDK spans: the otel sink makes its spans after the call, from the
timestamps the call recorded, so none of the SDK's live-span machinery
(context, processors, locks, attribute validation) does anything for it,
yet starting, ending and encoding three spans through the SDK and its
encoder cost ~0.2 ms per call: more than the gateway's whole request. This
module writes the same message (opentelemetry-proto's ``trace.proto``) in
~20 µs; the official exporters still send it (otel.py).

Field numbers are opentelemetry-proto's (collector/trace/v1, trace/v1,
common/v1, resource/v1); tests/otlp.py parses what we send with the
official generated classes.
"""

from __future__ import annotations

import struct
from typing import Any, Iterable

# SpanKind and StatusCode values of trace.proto
KIND_INTERNAL, KIND_SERVER, KIND_CLIENT = 1, 2, 3
STATUS_ERROR = 2


_ONE_BYTE = [bytes((i,)) for i in range(128)]


def _varint(n: int) -> bytes:
    if n < 128:
        return _ONE_BYTE[n]
    if n < 16384:
        return bytes((n & 0x7F | 0x80, n >> 7))
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _string(number: int, text: str) -> bytes:
    return _field(number, text.encode())


def any_value(value: Any) -> bytes:
    """common.v1.AnyValue"""
    if isinstance(value, bool):
        return b"\x10" + (b"\x01" if value else b"\x00")  # bool_value = 2
    if isinstance(value, int):
        return b"\x18" + _varint(value & 0xFFFFFFFFFFFFFFFF)  # int_value = 3 (int64, two's complement)
    if isinstance(value, float):
        return b"\x21" + struct.pack("<d", value)  # double_value = 4
    if isinstance(value, (list, tuple)):
        return _field(5, b"".join(_field(1, any_value(v)) for v in value))  # array_value = 5
    return _string(1, value if isinstance(value, str) else str(value))  # string_value = 1


# Encoded KeyValue fields by (field, key, type, value): most attributes repeat from call to call
# (operation, provider, model, key, route...), so most are a dict lookup. Bounded.
_PAIRS: dict[tuple, bytes] = {}
_PAIRS_MAX = 20_000


def attributes(number: int, attrs: dict[str, Any]) -> bytes:
    """repeated common.v1.KeyValue at field ``number``."""
    out = []
    for key, value in attrs.items():
        memo = (number, key, value.__class__, value) if not isinstance(value, list) else None
        encoded = _PAIRS.get(memo) if memo is not None else None
        if encoded is None:
            encoded = _field(number, _string(1, key) + _field(2, any_value(value)))
            if memo is not None:
                if len(_PAIRS) >= _PAIRS_MAX:
                    _PAIRS.clear()
                _PAIRS[memo] = encoded
        out.append(encoded)
    return b"".join(out)


def span(trace_id: bytes, span_id: bytes, parent_id: bytes | None, name: str, kind: int, start_ns: int,
         end_ns: int, attrs: dict[str, Any] | None = None, error: str | None = None) -> bytes:
    """trace.v1.Span; ``error`` (a message, possibly empty) sets status ERROR."""
    parts = [b"\x0a\x10" + trace_id, b"\x12\x08" + span_id]
    if parent_id:
        parts.append(b"\x22\x08" + parent_id)
    parts.append(_string(5, name))
    parts.append(b"\x30" + _varint(kind))
    parts.append(b"\x39" + struct.pack("<Q", start_ns) + b"\x41" + struct.pack("<Q", end_ns))
    if attrs:
        parts.append(attributes(9, attrs))
    if error is not None:
        status = (_string(2, error) if error else b"") + b"\x18" + _varint(STATUS_ERROR)
        parts.append(_field(15, status))
    return _field(2, b"".join(parts))  # as ScopeSpans.spans (field 2)


def request(resource_attrs: dict[str, Any], scope_name: str, spans: Iterable[bytes]) -> bytes:
    """collector.trace.v1.ExportTraceServiceRequest: one resource, one scope, the spans
    (each already framed as ``ScopeSpans.spans`` by ``span``)."""
    resource = _field(1, attributes(1, resource_attrs))
    scope_spans = _field(2, _field(1, _string(1, scope_name)) + b"".join(spans))
    return _field(1, resource + scope_spans)
