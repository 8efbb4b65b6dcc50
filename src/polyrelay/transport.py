"""The only module that does network I/O.

One pooled upstream client per event loop (a client is bound to the loop
it was made on): ``http1.Client``, or aiohttp's behind a proxy
(``proxied.py``); SSE, NDJSON and AWS event-stream framing; and network
failures turned into polyrelay's exceptions at this boundary
(``raise ... from exc``).
Providers never see a socket: they build an ``HTTPRequest`` and get back
bytes or ``StreamEvent``s. A request with ``local`` set is answered by that
in-process handler instead (the ``mock/`` provider).
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.request
import weakref
from dataclasses import dataclass
from typing import Any, AsyncIterator

import orjson

from . import http1
from .errors import APIConnectionError, BadRequestError, Timeout
from .providers.base import HTTPRequest, StreamEvent

DEFAULT_TIMEOUT = 600.0
CONNECT_TIMEOUT = 10.0


@dataclass(slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    events: AsyncIterator[list[StreamEvent]] | None = None  # streams: batches of events, one per read


class UpstreamStatus(Exception):
    """A non-2xx answer; the caller maps it with the provider's adapter."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"HTTP {reply.status}")
        self.reply = reply


@dataclass(slots=True)
class _Pool:
    client: Any  # http1.Client, or proxied.ProxiedClient
    closer: object  # the suspended async generator that closes the client with its loop


_pools: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool]" = weakref.WeakKeyDictionary()


def _dead() -> None:
    return None


# The last (loop, client) served, as weak references so that neither
# outlives its loop: the common case, one loop per process, skips the lookup.
_last: tuple[Any, Any] = (_dead, _dead)


def client() -> Any:
    """The pooled upstream client of the running loop, made on first use."""
    global _last
    loop = asyncio.get_running_loop()
    if _last[0]() is loop:
        found = _last[1]()
        if found is not None and not found.closed:
            return found
    pool = _pools.get(loop)
    if pool is None or pool.client.closed:
        made = _new_client()
        pool = _Pool(made, _closed_with_loop(made))
        _pools[loop] = pool
    _last = (weakref.ref(loop), weakref.ref(pool.client))
    return pool.client


def _new_client() -> Any:
    # HTTPS_PROXY & co. are honoured as httpx and the openai SDK honour them.
    if urllib.request.getproxies():
        from .proxied import ProxiedClient

        return ProxiedClient()
    return http1.Client()


def _closed_with_loop(made: Any):
    """Close ``made`` when its loop shuts down, so that a caller who runs
    each call in its own ``asyncio.run`` (scripts, tests) leaves no open
    socket (nor aiohttp's "Unclosed client session" warning) behind.
    ``asyncio.run`` (and every runner that calls ``loop.shutdown_asyncgens()``)
    closes the async generators that the loop has seen start: this one waits
    at its ``yield`` for exactly that. It is stepped to the ``yield`` here,
    without awaiting, because ``client()`` is synchronous."""

    async def wait_for_loop_end():
        try:
            yield
        finally:
            await made.close()

    closer = wait_for_loop_end()
    with contextlib.suppress(StopIteration):
        closer.__anext__().send(None)
    return closer


async def aclose() -> None:
    """Close this loop's client (servers call it on shutdown)."""
    global _last
    _last = (_dead, _dead)
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await pool.client.close()


def _seconds(timeout: float | None) -> tuple[float, float]:
    """(each wait for bytes, connecting): no total deadline here (the
    caller's ``asyncio.timeout`` is that, and a stream may run long)."""
    seconds = DEFAULT_TIMEOUT if timeout is None else float(timeout)
    return seconds, min(seconds, CONNECT_TIMEOUT)


async def _request(request: HTTPRequest, timeout: float | None):
    body = orjson.dumps(request.json) if request.json is not None else None
    read, connect = _seconds(timeout)
    return await client().request(request.method, request.url, request.headers, body,
                                  timeout=read, connect_timeout=connect)


@contextlib.contextmanager
def _network_errors(provider: str, model: str, mid_stream: bool = False):
    """The clients' failures as ours, once, at the boundary."""
    try:
        yield
    except TimeoutError as exc:  # http1.ReadTimeout and aiohttp's socket timeouts subclass it
        what = "stopped sending mid-stream" if mid_stream else "did not answer in time"
        raise Timeout(f"{provider} {what} ({exc})", llm_provider=provider, model=model) from exc
    except http1.HTTPError as exc:
        what = "the stream from {} broke" if mid_stream else "could not reach {}"
        raise APIConnectionError(f"{what.format(provider)}: {exc}", llm_provider=provider, model=model) from exc
    except http1.InvalidHeader as exc:
        raise BadRequestError(f"invalid request header for {provider}: {exc}", llm_provider=provider,
                              model=model) from exc


async def send(request: HTTPRequest, *, timeout: float | None, provider: str, model: str) -> Reply:
    """Send and read the whole answer. Raises ``UpstreamStatus`` for non-2xx."""
    if request.local is not None:
        local = await request.local(request)
        reply = Reply(local.status, local.headers, local.body, local.events)
    else:
        with _network_errors(provider, model):
            response = await _request(request, timeout)
            body = await response.read(_seconds(timeout)[0])
        reply = Reply(response.status, response.headers, body)
    if reply.status >= 400:
        raise UpstreamStatus(reply)
    return reply


async def open_stream(request: HTTPRequest, *, timeout: float | None, provider: str, model: str) -> Reply:
    """Start a streaming request. Returns once the status is known (so a
    failing request raises here, where it can still be retried); the
    events then come from ``reply.events``."""
    if request.local is not None:
        local = await request.local(request)
        events = one_by_one(local.events) if local.events is not None else None
        reply = Reply(local.status, local.headers, local.body, events)
        if reply.status >= 400:
            raise UpstreamStatus(reply)
        return reply
    with _network_errors(provider, model):
        response = await _request(request, timeout)
    read_timeout = _seconds(timeout)[0]
    if response.status >= 400:
        try:
            body = await response.read(read_timeout)
        except (http1.HTTPError, TimeoutError):
            body = b""
        finally:
            response.close()
        raise UpstreamStatus(Reply(response.status, response.headers, body))
    decode = _DECODERS[request.framing]
    return Reply(response.status, response.headers,
                 events=_guarded(decode(response.iter_chunks(read_timeout)), response, provider, model))


async def _guarded(events: AsyncIterator[list[StreamEvent]], response, provider: str, model: str):
    """Translate network failures mid-stream, and always let go of the
    connection: back to the pool when the stream was read to its end,
    closed when it was abandoned half-way (it cannot carry another request)."""
    try:
        with _network_errors(provider, model, mid_stream=True):
            async for batch in events:
                yield batch
    finally:
        await aclose_iterator(events)
        response.close()


async def aclose_iterator(events: Any) -> None:
    """Close an async iterator that can be closed (a generator), so its cleanup runs now."""
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()


# Decoders yield events in batches: those completed by one network read.
# A relay then passes a burst on in one write instead of one per event
# (a syscall each: a third of the gateway's CPU on streams), and an event
# that arrives alone still goes out at once.
EventBatches = AsyncIterator[list[StreamEvent]]


async def _line_batches(chunks: AsyncIterator[bytes]) -> AsyncIterator[list[str]]:
    """Lines ending in \\n, \\r\\n or \\r, whatever the read boundaries: per read, those it completed."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        lines: list[str] = []
        start = 0
        while (cut := _line_end(buffer, start)) is not None:
            end, skip = cut
            lines.append(buffer[start:end].decode("utf-8"))
            start = end + skip
        buffer = buffer[start:]
        if lines:
            yield lines
    if buffer:
        yield [buffer.decode("utf-8")]


def _line_end(buffer: bytes, start: int) -> tuple[int, int] | None:
    n = buffer.find(b"\n", start)
    r = buffer.find(b"\r", start, n if n != -1 else len(buffer))
    if r == -1 and n == -1:
        return None
    if r != -1:
        if r == len(buffer) - 1:
            return None  # a \r at the very end may be half of \r\n: wait
        return (r, 2) if buffer[r + 1:r + 2] == b"\n" else (r, 1)
    return n, 1


async def iter_sse(chunks: AsyncIterator[bytes]) -> EventBatches:
    """Server-sent events, field by field as the WHATWG algorithm reads them:
    ``data:`` lines join with \\n, a blank line dispatches, ``:`` lines are
    comments (keep-alives), unknown fields are ignored."""
    data: list[str] = []
    event: str | None = None
    async for lines in _line_batches(chunks):
        batch: list[StreamEvent] = []
        for line in lines:
            if not line:
                if data:
                    batch.append(StreamEvent("\n".join(data), event))
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
        if batch:
            yield batch
    # An event not closed by a blank line at end of stream is incomplete:
    # the algorithm discards it, and so do we (the caller then sees a cut stream).


async def iter_ndjson(chunks: AsyncIterator[bytes]) -> EventBatches:
    async for lines in _line_batches(chunks):
        batch = [StreamEvent(line) for line in lines if line.strip()]
        if batch:
            yield batch


async def iter_aws_eventstream(chunks: AsyncIterator[bytes]) -> EventBatches:
    """AWS's binary event-stream (Bedrock's ConverseStream): each frame's
    payload with its ``:event-type``; an exception or error frame comes out
    with ``event`` set to its exception type, for the adapter to raise.
    botocore splits and CRC-checks the frames; it is imported here, not at
    the top, so that only Bedrock users need it."""
    from botocore.eventstream import EventStreamBuffer

    frames = EventStreamBuffer()
    async for chunk in chunks:
        frames.add_data(chunk)
        batch: list[StreamEvent] = []
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
            batch.append(StreamEvent(message.payload.decode("utf-8"), name))
        if batch:
            yield batch


async def one_by_one(events: AsyncIterator[StreamEvent]) -> EventBatches:
    """An in-process handler's events (mock/) as batches of one: it makes
    them one at a time, paced as a real stream would be."""
    async for event in events:
        yield [event]


_DECODERS = {"sse": iter_sse, "ndjson": iter_ndjson, "aws-eventstream": iter_aws_eventstream}
