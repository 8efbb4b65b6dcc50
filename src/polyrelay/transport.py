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
import codecs
import contextlib
import urllib.request
import weakref
from dataclasses import dataclass
from typing import Any, AsyncIterator

import orjson

from . import http1
from .errors import APIConnectionError, APIError, BadRequestError, Timeout
from .params import package_setting
from .providers.base import HTTPRequest, StreamEvent

DEFAULT_TIMEOUT = 600.0
CONNECT_TIMEOUT = 10.0
# Caps on what one upstream answer may make us hold in memory (module
# settings ``polyrelay.max_response_size_mb`` / ``max_stream_event_size_mb``,
# the gateway's general_settings of the same names). The largest answers
# are embeddings: a full batch of 2,048 inputs at 1,536 dimensions is
# ~50 MB of JSON floats, so 64 MB lets that through while bounding a call
# at ~150 MB of peak memory (body, parse, re-dump). A chat answer of 128k
# tokens is ~0.5 MB. 8 MB for one stream line or event leaves room for a
# streamed image (a few MB of base64).
DEFAULT_MAX_RESPONSE_MB = 64.0
DEFAULT_MAX_STREAM_EVENT_MB = 8.0


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
    if uses_proxy():
        from .proxied import ProxiedClient

        return ProxiedClient()
    return http1.Client()


def uses_proxy() -> bool:
    """A proxy variable is set. NO_PROXY alone names no proxy (getproxies() lists it as
    "no"): many clusters set it everywhere, and it must not move calls to the proxy path."""
    return any(scheme != "no" and url for scheme, url in urllib.request.getproxies().items())


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


async def _request(request: HTTPRequest, timeout: float | None, body_limit: int | None = None):
    body = request.content if request.content is not None else (
        orjson.dumps(request.json) if request.json is not None else None)
    read, connect = _seconds(timeout)
    return await client().request(request.method, request.url, request.headers, body,
                                  timeout=read, connect_timeout=connect, body_limit=body_limit)


@contextlib.contextmanager
def _network_errors(provider: str, model: str, mid_stream: bool = False):
    """The clients' failures as ours, once, at the boundary."""
    try:
        yield
    except TimeoutError as exc:  # http1.ReadTimeout and aiohttp's socket timeouts subclass it
        what = "stopped sending mid-stream" if mid_stream else "did not answer in time"
        raise Timeout(f"{provider} {what} ({exc})", llm_provider=provider, model=model) from exc
    except (http1.ResponseTooLarge, StreamFormatError) as exc:
        # The provider answered, with something we will not hold or cannot read: a bad gateway.
        raise APIError(f"{provider} sent an answer polyrelay refused: {exc}", llm_provider=provider, model=model,
                       status_code=502, code="upstream_response_refused") from exc
    except http1.HTTPError as exc:
        what = "the stream from {} broke" if mid_stream else "could not reach {}"
        raise APIConnectionError(f"{what.format(provider)}: {exc}", llm_provider=provider, model=model) from exc
    except http1.InvalidHeader as exc:
        raise BadRequestError(f"invalid request header for {provider}: {exc}", llm_provider=provider,
                              model=model) from exc
    except http1.InvalidURL as exc:  # an api_base that is not http(s): the configuration's or the caller's
        raise BadRequestError(f"invalid api_base for {provider}: {exc}", llm_provider=provider, model=model,
                              param="api_base") from exc


async def send(request: HTTPRequest, *, timeout: float | None, provider: str, model: str) -> Reply:
    """Send and read the whole answer. Raises ``UpstreamStatus`` for non-2xx."""
    if request.local is not None:
        local = await request.local(request)
        reply = Reply(local.status, local.headers, local.body, local.events)
    else:
        with _network_errors(provider, model):
            limit = response_limit()
            response = await _request(request, timeout, limit)
            body = await response.read(_seconds(timeout)[0], limit)
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
            body = await response.read(read_timeout, response_limit())
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


class StreamFormatError(http1.HTTPError):
    """The stream is not the framing it should be: a line or event past the
    size cap, or bytes that are not UTF-8."""


def stream_event_limit() -> int:
    """The longest line or event a stream may send, in bytes: bounds what one
    stream holds in memory while an event is incomplete."""
    return int(package_setting("max_stream_event_size_mb", DEFAULT_MAX_STREAM_EVENT_MB) * 1024 * 1024)


def response_limit() -> int:
    """The largest upstream body read whole (not streamed), in bytes."""
    return int(package_setting("max_response_size_mb", DEFAULT_MAX_RESPONSE_MB) * 1024 * 1024)


def _too_long(limit: int) -> StreamFormatError:
    return StreamFormatError(f"a stream line or event is longer than {limit / 1024 / 1024:g} MB "
                             "(max_stream_event_size_mb); the stream was closed")


class _Lines:
    """Lines ending in \\n, \\r\\n or \\r, whatever the read boundaries: ``feed``
    returns those a read completed.

    Linear in the bytes read: an unfinished line is kept as a list of
    pieces and joined once, when a read brings its end (joining on every
    read made a stream without newlines quadratic). A line longer than
    ``limit`` bytes ends the stream with ``StreamFormatError``."""

    __slots__ = ("limit", "pending", "pending_size")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pending: list[bytes] = []  # the unfinished line, in pieces
        self.pending_size = 0

    def feed(self, chunk: bytes) -> list[str]:
        pending, limit = self.pending, self.limit
        if pending:
            if pending[-1][-1:] != b"\r" and b"\n" not in chunk and b"\r" not in chunk:
                pending.append(chunk)  # still no line end (and no \r held that \n could complete)
                self.pending_size += len(chunk)
                if self.pending_size > limit:
                    raise _too_long(limit)
                return []
            pending.append(chunk)
            chunk = b"".join(pending)
            pending.clear()
        raw: list[bytes] = []
        start = _split_lines(chunk, raw)
        if len(chunk) > limit and (len(chunk) - start > limit or any(len(line) > limit for line in raw)):
            raise _too_long(limit)
        if start < len(chunk):
            pending.append(chunk[start:])
            self.pending_size = len(chunk) - start
        return _decoded(raw) if raw else []

    def rest(self) -> list[str]:
        """The unfinished last line, at the end of the stream."""
        return _decoded([b"".join(self.pending)]) if self.pending else []


async def _line_batches(chunks: AsyncIterator[bytes], limit: int | None = None) -> AsyncIterator[list[str]]:
    """Per read, the lines it completed (see ``_Lines``)."""
    lines = _Lines(stream_event_limit() if limit is None else limit)
    async for chunk in chunks:
        completed = lines.feed(chunk)
        if completed:
            yield completed
    rest = lines.rest()
    if rest:
        yield rest


def _split_lines(buffer: bytes, lines: list[bytes]) -> int:
    """Append the complete lines of ``buffer`` to ``lines``; return where the unfinished rest starts.
    Each search starts where the last one stopped, so a buffer is scanned once."""
    r = buffer.find(b"\r")
    if r == -1:  # the usual framing: one C-level split
        parts = buffer.split(b"\n")
        rest = parts.pop()
        lines.extend(parts)
        return len(buffer) - len(rest)
    start, end = 0, len(buffer)
    n = buffer.find(b"\n", 0, r)  # \n before the first \r, if any
    if n == -1:
        n = buffer.find(b"\n", r)
    while True:
        if n != -1 and n < start:
            n = buffer.find(b"\n", start)
        r = buffer.find(b"\r", start, n if n != -1 else end)
        if r == -1:
            if n == -1:
                return start
            lines.append(buffer[start:n])
            start = n + 1
        elif r == end - 1:
            return start  # a \r at the very end may be half of \r\n: wait
        else:
            lines.append(buffer[start:r])
            start = r + 2 if buffer[r + 1] == 10 else r + 1


def _decoded(lines: list[bytes]) -> list[str]:
    try:
        return [line.decode("utf-8") for line in lines]
    except UnicodeDecodeError as exc:
        raise _not_utf8(exc) from None


def _not_utf8(exc: UnicodeDecodeError) -> StreamFormatError:
    return StreamFormatError(f"the stream is not UTF-8 text ({exc.reason} at byte {exc.start})")


async def iter_sse(chunks: AsyncIterator[bytes]) -> EventBatches:
    """Server-sent events, field by field as the WHATWG algorithm reads them:
    ``data:`` lines join with \\n, a blank line dispatches, ``:`` lines are
    comments (keep-alives), unknown fields are ignored.

    The usual read (what an LLM API sends: whole ``data: ...\\n\\n`` events,
    one line each) is split at once by ``_whole_events``; anything else goes
    line by line."""
    limit = stream_event_limit()
    reader = _Lines(limit)
    data: list[str] = []
    size = 0  # of the event's data so far: many short data lines must not add up past the cap either
    event: str | None = None
    async for chunk in chunks:
        if not data and event is None and not reader.pending:
            batch = _whole_events(chunk, limit)
            if batch is not None:
                if batch:
                    yield batch
                continue
        batch = []
        for line in reader.feed(chunk):
            if not line:
                if data:
                    batch.append(StreamEvent("\n".join(data), event))
                data, event, size = [], None, 0
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "data":
                data.append(value)
                size += len(value) + 1
                if size > limit:
                    raise _too_long(limit)
            elif name == "event":
                event = value
        if batch:
            yield batch
    # An event not closed by a blank line at end of stream is incomplete:
    # the algorithm discards it, and so do we (the caller then sees a cut stream).


def _whole_events(chunk: bytes, limit: int) -> list[StreamEvent] | None:
    """The events of a read made only of whole one-line ``data: ...`` events
    (\\n line ends, no comment or other field), the same the line-by-line
    reading finds; None for any other read."""
    if chunk[-2:] != b"\n\n" or b"\r" in chunk or len(chunk) > limit:
        return None
    batch: list[StreamEvent] = []
    for part in chunk.split(b"\n\n"):
        if part[:6] == b"data: " and b"\n" not in part:
            try:
                batch.append(StreamEvent(part[6:].decode("utf-8")))
            except UnicodeDecodeError:
                return None  # the line-by-line reading names the error
        elif part:
            return None
    return batch


async def iter_ndjson(chunks: AsyncIterator[bytes]) -> EventBatches:
    async for lines in _line_batches(chunks, stream_event_limit()):
        batch = [StreamEvent(line) for line in lines if line.strip()]
        if batch:
            yield batch


async def iter_aws_eventstream(chunks: AsyncIterator[bytes]) -> EventBatches:
    """AWS's binary event-stream (Bedrock's ConverseStream): each frame's
    payload with its ``:event-type``; an exception or error frame comes out
    with ``event`` set to its exception type, for the adapter to raise.
    botocore splits and CRC-checks the frames; it is imported here, not at
    the top, so that only Bedrock users need it."""
    from botocore.eventstream import EventStreamBuffer, ParserError

    frames = EventStreamBuffer()
    # SageMaker's PayloadPart events carry the container's bytes cut wherever it flushed, possibly
    # inside a UTF-8 character: they are decoded as one continuing text, not frame by frame.
    parts = codecs.getincrementaldecoder("utf-8")()
    async for chunk in chunks:
        frames.add_data(chunk)
        batch: list[StreamEvent] = []
        try:
            messages = list(frames)  # botocore caps a frame at 16 MB and checks its CRCs
        except ParserError as exc:
            raise StreamFormatError(f"a broken event-stream frame: {exc}") from None
        for message in messages:
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
            if name == "PayloadPart":
                try:
                    text = parts.decode(message.payload)
                except UnicodeDecodeError as exc:
                    raise _not_utf8(exc) from None
            else:
                text = _decoded([message.payload])[0]
            batch.append(StreamEvent(text, name))
        if batch:
            yield batch


async def one_by_one(events: AsyncIterator[StreamEvent]) -> EventBatches:
    """An in-process handler's events (mock/) as batches of one: it makes
    them one at a time, paced as a real stream would be."""
    async for event in events:
        yield [event]


async def iter_bytes(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """No framing: the body's bytes as they arrive (speech audio, relayed unparsed)."""
    async for chunk in chunks:
        yield chunk


_DECODERS = {"sse": iter_sse, "ndjson": iter_ndjson, "aws-eventstream": iter_aws_eventstream, "bytes": iter_bytes}
