"""Upstream exchanges an adapter runs itself, through the transport.

Most adapters build one request and the transport sends it. Two protocols
need more: Replicate (create a prediction, then poll it or read its stream)
and endpoints whose answer is a JSON array (TGI's ``[{"generated_text"}]``,
TEI's ``[[...floats]]``) where polyrelay reads an object. Their requests
carry ``local`` handlers built here, which send through the transport (the
same pooled client, limits and error translation) and answer with a
``LocalReply``; a non-2xx answer is handed back as it came, so the
adapter's ``map_error`` reads the vendor's error body as usual.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .base import Call, HTTPRequest
from .mock import LocalReply

# Where a JSON array answer is put, in the object polyrelay reads.
ITEMS = "_items"


async def exchange(call: Call, request: HTTPRequest) -> LocalReply:
    """Send ``request`` (its ``local`` ignored) and return the answer, whatever its status."""
    from .. import transport

    plain = replace(request, local=None)
    try:
        reply = await transport.send(plain, timeout=None, provider=call.provider, model=call.model)
    except transport.UpstreamStatus as failed:
        return LocalReply(failed.reply.status, failed.reply.body, failed.reply.headers)
    return LocalReply(reply.status, reply.body, reply.headers)


def array_as_object(call: Call, request: HTTPRequest) -> HTTPRequest:
    """``request``, answered with a JSON array wrapped as ``{"_items": [...]}``."""

    async def handler(sent: HTTPRequest) -> LocalReply:
        import orjson

        answer = await exchange(call, sent)
        if answer.status < 400 and answer.body.lstrip()[:1] == b"[":
            try:
                items: Any = orjson.loads(answer.body)
            except orjson.JSONDecodeError:
                return answer  # left for the caller's "not JSON" error
            answer.body = orjson.dumps({ITEMS: items})
        return answer

    request.local = handler
    return request
