"""A small HTTP/1.1 client for upstream calls: keep-alive pools, TLS,
bodies read whole or streamed as they arrive.

Why not aiohttp's client (which polyrelay still uses behind a proxy): for
the same proxied call it spent ~80 us of CPU on per-request bookkeeping
(cookie, proxy, trace and timer machinery), this one ~15-20 us, a quarter
of the gateway's whole cost per request (bench/README.md). It does only
what the providers' APIs need: one request at a time per connection,
request bodies with a Content-Length, any response framing httptools
parses (Content-Length, chunked, or until the server closes), gzip and
deflate response bodies, a timeout on every wait for bytes.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections import deque
from typing import AsyncIterator
from urllib.parse import urlsplit

import httptools

USER_AGENT = "polyrelay"
KEEPALIVE_SECONDS = 30.0  # an idle connection older than this is not reused
# Idle connections kept per origin. A gateway holding thousands of slow
# streams opens as many connections; keeping up to this many when they end
# spares the next calls a TCP (and TLS) handshake each (issue 23).
MAX_IDLE_PER_HOST = 1000
PAUSE_AT_BYTES = 1 << 20  # unread body past this stops reading from the socket until the reader catches up


class HTTPError(Exception):
    """The exchange failed below HTTP: connect, TLS, or a broken or malformed response."""


class ReadTimeout(HTTPError, TimeoutError):
    """No bytes came for ``timeout`` seconds."""


class InvalidHeader(ValueError):
    """A header name or value with a line break: it could smuggle another header or request."""


class InvalidURL(ValueError):
    """Not an http(s) URL with a host (``file://``, ``ftp://``, a bare path): nothing this client can call."""


class ResponseTooLarge(HTTPError):
    """The body is larger than the caller will hold in memory."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is larger than {limit / 1024 / 1024:g} MB (max_response_size_mb)")
        self.limit = limit


class _Origin:
    __slots__ = ("scheme", "host", "port", "target_prefix", "host_header")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidURL(f"not an http(s) URL: {url.split('://')[0][:20]}://...")
        self.scheme = parts.scheme
        self.host = parts.hostname
        default = 443 if parts.scheme == "https" else 80
        self.port = parts.port or default
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = host if self.port == default else f"{host}:{self.port}"


def _split(url: str, cache: dict[str, tuple[_Origin, str]]) -> tuple[_Origin, str]:
    """(origin, request target) of a URL; the few URLs a process calls are parsed once."""
    found = cache.get(url)
    if found is None:
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        found = (_Origin(url), target)
        if len(cache) < 4096:
            cache[url] = found
    return found


class Response:
    """Status and headers at once; the body through ``read()`` or ``iter_chunks()``."""

    __slots__ = ("status", "headers", "_conn", "_chunks", "_read", "_buffered", "_complete", "_error", "_waiter",
                 "_decoder", "_released", "_limit", "_size")

    def __init__(self, conn: "_Connection", limit: int | None = None) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}  # lower-cased names; repeated headers joined with ", "
        self._conn = conn
        # Body not read yet: _chunks[_read:]. A list and an index rather than a
        # deque, whose first block is ~0.6 KB for every open stream (issue 23).
        self._chunks: list[bytes] = []
        self._read = 0
        self._buffered = 0
        self._complete = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future | None = None
        self._decoder = None
        self._released = False
        self._limit = limit  # bytes of body (decompressed) the caller will hold; None: no cap
        self._size = 0

    # -- fed by the connection ------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        if self._complete:
            return  # failed (too large) while the parser was still going through a read
        limit = self._limit
        if self._decoder is not None:
            # Capped output: a small gzip bomb must not inflate to gigabytes before it is counted.
            data = self._decoder.decompress(data) if limit is None else \
                self._decoder.decompress(data, limit - self._size + 1)
            if not data:
                return
        if limit is not None:
            self._size += len(data)
            if self._size > limit:
                self._conn._fail(ResponseTooLarge(limit))
                return
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > PAUSE_AT_BYTES:
            self._conn.pause()
        self._wake()

    def _finish(self, error: BaseException | None = None) -> None:
        if self._complete:
            return  # already failed (too large): the parser's own end of message comes after
        if error is None and self._decoder is not None:
            tail = self._decoder.flush()
            self._size += len(tail)
            if self._limit is not None and self._size > self._limit:
                error = ResponseTooLarge(self._limit)
            elif tail:
                self._chunks.append(tail)
        self._complete = True
        self._error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- read by the caller ---------------------------------------------------------------
    async def _next(self, timeout: float) -> bytes | None:
        """The next piece of body, or None at its end."""
        chunks = self._chunks
        while self._read == len(chunks):
            if self._complete:
                if self._error is not None:
                    raise self._error
                return None
            self._waiter = self._conn.loop.create_future()
            self._conn.wait_at_most(timeout, self._waiter)
            try:
                await self._waiter
            finally:
                self._waiter = None
                self._conn.stop_timer()
        data = chunks[self._read]
        self._read += 1
        if self._read == len(chunks):
            chunks.clear()
            self._read = 0
        self._buffered -= len(data)
        if self._buffered <= PAUSE_AT_BYTES // 2:
            self._conn.resume()
        return data

    async def read(self, timeout: float, limit: int | None = None) -> bytes:
        """The whole body; past ``limit`` bytes (after decompression) ``ResponseTooLarge``,
        raised before reading when the Content-Length already says so."""
        parts = []
        size = 0
        try:
            if limit is not None and self._decoder is None and _length(self.headers) > limit:
                raise ResponseTooLarge(limit)
            while (data := await self._next(timeout)) is not None:
                parts.append(data)
                size += len(data)
                if limit is not None and size > limit:
                    raise ResponseTooLarge(limit)
        finally:
            self.release()  # a timeout or cancellation half-way closes the connection
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def iter_chunks(self, timeout: float) -> AsyncIterator[bytes]:
        try:
            while (data := await self._next(timeout)) is not None:
                yield data
        finally:
            self.release()

    def release(self) -> None:
        """Done with this response: the connection goes back to its pool if
        the response was read to its end and the server keeps it alive,
        else it is closed (it cannot carry another request)."""
        if not self._released:
            self._released = True
            self._conn.done_with(self, reusable=self._complete and self._error is None)

    close = release


def _length(headers: dict[str, str]) -> int:
    try:
        return int(headers.get("content-length", "0"))
    except ValueError:
        return 0  # httptools refuses a malformed length before we get here


class _Connection(asyncio.Protocol):
    def __init__(self, pool: deque, loop: asyncio.AbstractEventLoop) -> None:
        self.pool = pool
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: Response | None = None
        self.headers_ready: asyncio.Future | None = None
        self.closed = False
        self.idle_since = 0.0
        self.keep_alive = False
        self.got_bytes = False  # any byte of the current response (a reused connection that got none may be retried)
        self._framed = False  # the response has a length or is chunked (else it ends when the server closes)
        self._paused = False
        self._timer: asyncio.TimerHandle | None = None  # see wait_at_most
        self._timer_due = 0.0
        self._waiter: asyncio.Future | None = None
        self._wait_seconds = 0.0
        self._wait_due = 0.0

    # -- asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.response is None:  # bytes nobody asked for (on an idle connection): not to be trusted
            self.abort()
            return
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(HTTPError("the server switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(HTTPError(f"malformed response: {exc}"))

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        response = self.response
        if response is not None and not response._complete:
            if response.status and not self._framed and exc is None:
                response._finish()  # a body delimited by the server closing the connection
            else:
                self._fail(HTTPError("the server closed the connection before the response was complete"))
        elif self.headers_ready is not None and not self.headers_ready.done():
            self._fail(HTTPError("the server closed the connection without answering"))

    # -- httptools callbacks ----------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        headers = self.response.headers  # type: ignore[union-attr]
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        response = self.response
        assert response is not None
        response.status = self.parser.get_status_code()
        headers = response.headers
        self._framed = "content-length" in headers or "chunked" in headers.get("transfer-encoding", "")
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            response._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            response._decoder = zlib.decompressobj()
        if self.headers_ready is not None and not self.headers_ready.done():
            self.headers_ready.set_result(None)

    def on_body(self, body: bytes) -> None:
        self.response._feed(body)  # type: ignore[union-attr]

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        self.response._finish()  # type: ignore[union-attr]

    # -- the exchange ---------------------------------------------------------------------------
    def send(self, head: bytes, body: bytes | None, body_limit: int | None = None) -> Response:
        self.response = Response(self, body_limit)
        self.headers_ready = self.loop.create_future()
        self.got_bytes = False
        self.keep_alive = False
        self.transport.write(head + body if body else head)  # type: ignore[union-attr]
        return self.response

    def _fail(self, error: BaseException) -> None:
        if self.headers_ready is not None and not self.headers_ready.done():
            self.headers_ready.set_exception(error)
        if self.response is not None and not self.response._complete:
            self.response._finish(error)
        self.abort()

    def wait_at_most(self, seconds: float, waiter: asyncio.Future) -> None:
        """Fail ``waiter`` with ``ReadTimeout`` if it is still pending ``seconds`` from now.

        One timer per connection, armed when none is and re-armed only when it
        fires while a wait is not yet due: arming and cancelling a timer on
        every read was ~5% of the CPU of a relayed stream chunk (issue 23)."""
        now = self.loop.time()
        due = now + seconds
        self._waiter, self._wait_seconds, self._wait_due = waiter, seconds, due
        if self._timer is not None and self._timer_due > due:  # a shorter wait than the armed one
            self._timer.cancel()
            self._timer = None
        if self._timer is None:
            self._timer_due = due
            self._timer = self.loop.call_at(due, self._expire)

    def _expire(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # nothing waits now: the next wait arms the timer again
        if self.loop.time() + 0.001 >= self._wait_due:  # timers may fire a clock tick early
            self._waiter = None
            waiter.set_exception(ReadTimeout(f"no data for {self._wait_seconds:g}s"))
        else:  # the wait it was armed for ended; this one is due later
            self._timer_due = self._wait_due
            self._timer = self.loop.call_at(self._wait_due, self._expire)

    def stop_timer(self) -> None:
        """The wait is over: the timer, if it fires, finds nothing to fail."""
        self._waiter = None

    def _cancel_timer(self) -> None:
        self._waiter = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def done_with(self, response: Response, reusable: bool) -> None:
        if response is not self.response:
            return
        self.response = None
        self.headers_ready = None
        self._cancel_timer()
        if reusable and self.keep_alive and not self.closed and len(self.pool) < MAX_IDLE_PER_HOST:
            self.idle_since = time.monotonic()
            self.pool.append(self)
        else:
            self.abort()

    def abort(self) -> None:
        self.closed = True
        self._cancel_timer()
        if self.transport is not None:
            self.transport.close()


class Client:
    """Keep-alive connection pools by origin. One per event loop."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl = ssl_context
        self._pools: dict[tuple[str, str, int], deque[_Connection]] = {}
        self._urls: dict[str, tuple[_Origin, str]] = {}
        self.closed = False

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()  # the system's CAs; SSL_CERT_FILE / SSL_CERT_DIR honoured
        return self._ssl

    async def request(self, method: str, url: str, headers: dict[str, str], body: bytes | None, *,
                      timeout: float, connect_timeout: float, body_limit: int | None = None) -> Response:
        """Send a request; returns once the status and headers are in. A body
        (decompressed) past ``body_limit`` fails the response with ``ResponseTooLarge``."""
        origin, target = _split(url, self._urls)
        head = self._head(method, target, origin, headers, body)
        pool = self._pools.setdefault((origin.scheme, origin.host, origin.port), deque())
        for _ in range(2):  # a reused connection the server had just closed gets one retry on a new one
            conn, reused = await self._checkout(pool, origin, connect_timeout)
            response = conn.send(head, body, body_limit)
            conn.wait_at_most(timeout, conn.headers_ready)  # type: ignore[arg-type]
            try:
                await conn.headers_ready  # type: ignore[misc]
            except ReadTimeout:
                conn.abort()
                raise
            except HTTPError:
                if reused and not conn.got_bytes:
                    conn.abort()
                    continue
                raise
            except BaseException:
                conn.abort()  # cancelled or timed out mid-exchange: the connection cannot be reused
                raise
            finally:
                conn.stop_timer()
            return response
        raise HTTPError("the server closed the connection without answering")

    @staticmethod
    def _head(method: str, target: str, origin: _Origin, headers: dict[str, str], body: bytes | None) -> bytes:
        lines = [f"{method} {target} HTTP/1.1\r\nHost: {origin.host_header}\r\n"]
        given = set()
        for name, value in headers.items():
            name, value = str(name), str(value)
            if "\r" in name or "\n" in name or "\r" in value or "\n" in value or ":" in name:
                raise InvalidHeader(f"header {name[:40]!r} has a line break or colon in its name or value")
            low = name.lower()
            if low in ("host", "content-length", "transfer-encoding", "connection"):
                continue  # framing is ours to set
            given.add(low)
            lines.append(f"{name}: {value}\r\n")
        if "user-agent" not in given:
            lines.append(f"User-Agent: {USER_AGENT}\r\n")
        if "accept" not in given:
            lines.append("Accept: */*\r\n")
        if "accept-encoding" not in given:
            lines.append("Accept-Encoding: gzip, deflate\r\n")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}\r\n")
        lines.append("\r\n")
        return "".join(lines).encode("latin-1")

    async def _checkout(self, pool: deque[_Connection], origin: _Origin,
                        connect_timeout: float) -> tuple[_Connection, bool]:
        now = time.monotonic()
        while pool:
            conn = pool.pop()  # the most recently used: the likeliest still open
            if not conn.closed and now - conn.idle_since < KEEPALIVE_SECONDS:
                return conn, True
            conn.abort()
        loop = asyncio.get_running_loop()
        tls = self._tls() if origin.scheme == "https" else None
        try:
            async with asyncio.timeout(connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(pool, loop), origin.host, origin.port, ssl=tls,
                    server_hostname=origin.host if tls else None)
        except TimeoutError:
            raise ReadTimeout(f"could not connect to {origin.host}:{origin.port} in {connect_timeout:g}s") from None
        except (OSError, ssl.SSLError) as exc:
            raise HTTPError(f"could not connect to {origin.host}:{origin.port}: {exc}") from exc
        return conn, False

    async def close(self) -> None:
        self.closed = True
        for pool in self._pools.values():
            while pool:
                pool.pop().abort()
        self._pools.clear()
