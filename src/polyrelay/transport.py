"""The only module that does network I/O.

One pooled ``httpx.AsyncClient`` per event loop (a client is bound to the
loop it was made on), SSE, NDJSON and AWS event-stream framing, and
network failures turned into polyrelay's exceptions at this boundary
(``raise ... from exc``).
Providers never see a socket: they build an ``HTTPRequest`` and get back
bytes or ``StreamEvent``s. A request with ``local`` set is answered by that
in-process handler instead (the ``mock/`` provider).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from dataclasses import dataclass
from typing import AsyncIterator

import httpx
import orjson

from .errors import APIConnectionError, Timeout
from .providers.base import HTTPRequest, StreamEvent

DEFAULT_TIMEOUT = 600.0
_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=30)


@dataclass(slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    events: AsyncIterator[StreamEvent] | None = None


class UpstreamStatus(Exception):
    """A non-2xx answer; the caller maps it with the provider's adapter."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"HTTP {reply.status}")
        self.reply = reply


_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = weakref.WeakKeyDictionary()


def client() -> httpx.AsyncClient:
    """The pooled client of the running loop, made on first use."""
    loop = asyncio.get_running_loop()
    found = _clients.get(loop)
    if found is None or found.is_closed:
        found = httpx.AsyncClient(limits=_LIMITS, timeout=DEFAULT_TIMEOUT, follow_redirects=False)
        _clients[loop] = found
    return found


async def aclose() -> None:
    """Close this loop's client (servers call it on shutdown)."""
    found = _clients.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found.aclose()


def _timeout(value: float | httpx.Timeout | None) -> httpx.Timeout:
    if isinstance(value, httpx.Timeout):
        return value
    seconds = DEFAULT_TIMEOUT if value is None else float(value)
    return httpx.Timeout(seconds, connect=min(seconds, 10.0))


def _outgoing(http: httpx.AsyncClient, request: HTTPRequest, timeout: float | httpx.Timeout | None) -> httpx.Request:
    return http.build_request(
        request.method, request.url, headers=request.headers,
        content=orjson.dumps(request.json) if request.json is not None else None,
        timeout=_timeout(timeout),
    )


@contextlib.contextmanager
def _network_errors(provider: str, model: str):
    """httpx's failures as ours, once, at the boundary."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise Timeout(f"{provider} did not answer in time ({exc.__class__.__name__})",
                      llm_provider=provider, model=model) from exc
    except httpx.HTTPError as exc:
        raise APIConnectionError(f"could not reach {provider}: {exc.__class__.__name__}: {exc}",
                                 llm_provider=provider, model=model) from exc


async def send(request: HTTPRequest, *, timeout: float | httpx.Timeout | None, provider: str, model: str) -> Reply:
    """Send and read the whole answer. Raises ``UpstreamStatus`` for non-2xx."""
    if request.local is not None:
        local = await request.local(request)
        reply = Reply(local.status, local.headers, local.body, local.events)
    else:
        http = client()
        with _network_errors(provider, model):
            response = await http.send(_outgoing(http, request, timeout))
        reply = Reply(response.status_code, dict(response.headers), response.content)
    if reply.status >= 400:
        raise UpstreamStatus(reply)
    return reply


async def open_stream(request: HTTPRequest, *, timeout: float | httpx.Timeout | None, provider: str, model: str) -> Reply:
    """Start a streaming request. Returns once the status is known (so a
    failing request raises here, where it can still be retried); the
    events then come from ``reply.events``."""
    if request.local is not None:
        local = await request.local(request)
        reply = Reply(local.status, local.headers, local.body, local.events)
        if reply.status >= 400:
            raise UpstreamStatus(reply)
        return reply
    http = client()
    with _network_errors(provider, model):
        response = await http.send(_outgoing(http, request, timeout), stream=True)
    if response.status_code >= 400:
        try:
            body = await response.aread()
        except httpx.HTTPError:
            body = b""
        finally:
            await response.aclose()
        raise UpstreamStatus(Reply(response.status_code, dict(response.headers), body))
    decode = _DECODERS[request.framing]
    return Reply(response.status_code, dict(response.headers),
                 events=_guarded(decode(response.aiter_bytes()), response, provider, model))


async def _guarded(events: AsyncIterator[StreamEvent], response: httpx.Response, provider: str, model: str):
    """Translate network failures mid-stream, and always release the connection."""
    try:
        async for event in events:
            yield event
    except httpx.TimeoutException as exc:
        raise Timeout(f"{provider} stopped sending mid-stream ({exc.__class__.__name__})",
                      llm_provider=provider, model=model) from exc
    except httpx.HTTPError as exc:
        raise APIConnectionError(f"the stream from {provider} broke: {exc.__class__.__name__}",
                                 llm_provider=provider, model=model) from exc
    finally:
        await response.aclose()


async def _lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """Split a byte stream into lines on \\n, \\r\\n or \\r, whatever the read boundaries."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        while True:
            cut = _line_end(buffer)
            if cut is None:
                break
            end, skip = cut
            yield buffer[:end].decode("utf-8")
            buffer = buffer[end + skip:]
    if buffer:
        yield buffer.decode("utf-8")


def _line_end(buffer: bytes) -> tuple[int, int] | None:
    n = buffer.find(b"\n")
    r = buffer.find(b"\r")
    if r == -1 and n == -1:
        return None
    if r != -1 and (n == -1 or r < n):
        if r == len(buffer) - 1:
            return None  # a \r at the very end may be half of \r\n: wait
        return (r, 2) if buffer[r + 1:r + 2] == b"\n" else (r, 1)
    return n, 1


async def iter_sse(chunks: AsyncIterator[bytes]) -> AsyncIterator[StreamEvent]:
    """Server-sent events, field by field as the WHATWG algorithm reads them:
    ``data:`` lines join with \\n, a blank line dispatches, ``:`` lines are
    comments (keep-alives), unknown fields are ignored."""
    data: list[str] = []
    event: str | None = None
    async for line in _lines(chunks):
        if not line:
            if data:
                yield StreamEvent("\n".join(data), event)
            data, event = [], None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    # An event not closed by a blank line at end of stream is incomplete:
    # the algorithm discards it, and so do we (the caller then sees a cut stream).


async def iter_ndjson(chunks: AsyncIterator[bytes]) -> AsyncIterator[StreamEvent]:
    async for line in _lines(chunks):
        if line.strip():
            yield StreamEvent(line)


async def iter_aws_eventstream(chunks: AsyncIterator[bytes]) -> AsyncIterator[StreamEvent]:
    """AWS's binary event-stream (Bedrock's ConverseStream): each frame's
    payload with its ``:event-type``; an exception or error frame comes out
    with ``event`` set to its exception type, for the adapter to raise.
    botocore splits and CRC-checks the frames; it is imported here, not at
    the top, so that only Bedrock users need it."""
    from botocore.eventstream import EventStreamBuffer

    frames = EventStreamBuffer()
    async for chunk in chunks:
        frames.add_data(chunk)
        for message in frames:
            headers = message.headers
            kind = headers.get(":message-type", "event")
            if kind == "event":
                name = headers.get(":event-type")
            elif kind == "exception":
                name = headers.get(":exception-type") or "UnknownException"
            else:  # "error": code and message travel in headers, not the payload
                name = headers.get(":error-code") or "InternalServerException"
                if not message.payload:
                    message.payload = orjson.dumps({"message": headers.get(":error-message", "")})
            yield StreamEvent(message.payload.decode("utf-8"), name)


_DECODERS = {"sse": iter_sse, "ndjson": iter_ndjson, "aws-eventstream": iter_aws_eventstream}
