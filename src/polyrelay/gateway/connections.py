"""Limits on client connections, so that idle or half-open ones cannot
take every file descriptor (a slowloris).

uvicorn's httptools protocol has no timer on a connection that has not
finished sending a request head: ``timeout_keep_alive`` runs only between
requests and is cancelled by the first byte of the next one, and
``limit_concurrency`` answers 503 only once a head is complete, while the
half-open connections it counts keep their sockets. So 4,596 connections
that sent half a head and waited held 4,596 descriptors until the process
ran out and stopped answering anyone. This subclass adds, per connection:

- a head timeout: a request head (request line and headers) must be
  complete ``header_timeout`` seconds after its first byte, or after the
  connection opened; else 408 and the connection is closed;
- the same for a request body that stops: no ``header_timeout`` without a
  byte until it is complete (a slowloris that sends a whole head, then a
  body a byte at a time);
- a head size cap (``MAX_HEAD_BYTES``): past it, 431 and closed;
- a cap on open connections per worker: one over it is answered 503 and
  closed at once, before it can hold a descriptor for long.

Each refusal is counted and logged, at most one line per
``LOG_EVERY_SECONDS`` per kind, so an attack cannot flood the log either.
"""

from __future__ import annotations

import functools
import logging
import resource
import time

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("polyrelay.gateway")

DEFAULT_HEADER_TIMEOUT = 10.0  # API clients send a head in one write; 10 s is far past any network hiccup
MAX_HEAD_BYTES = 64 * 1024  # nginx's default is 32 KB (4 x 8k), Node's 16 KB
LOG_EVERY_SECONDS = 10.0


def default_max_connections() -> int:
    """Half of this process's descriptor limit (the other half is for upstream
    connections, the database, the spool and logs), within 64..16384."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 16384
    return max(64, min(16384, soft // 2))


def raise_descriptor_limit() -> None:
    """Raise the soft descriptor limit to the hard one, as Go programs and
    nginx do: the default soft limit (often 1,024) is far below what a
    gateway with keep-alive clients and upstream pools needs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard and soft != resource.RLIM_INFINITY:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:  # not permitted here: the soft limit stays, and the cap follows it
            log.debug("could not raise the descriptor limit from %s to %s: %s", soft, hard, exc)


class ConnectionLimits:
    """The limits, and counts of what they refused (one object per worker process)."""

    def __init__(self, header_timeout: float = DEFAULT_HEADER_TIMEOUT, max_connections: int | None = None) -> None:
        self.header_timeout = header_timeout
        self.max_connections = max_connections if max_connections is not None else default_max_connections()
        self.refused = {"header_timeout": 0, "body_timeout": 0, "head_too_large": 0, "too_many_connections": 0}
        self._unlogged = dict.fromkeys(self.refused, 0)
        self._logged_at = dict.fromkeys(self.refused, float("-inf"))

    def count(self, kind: str, detail: str) -> None:
        self.refused[kind] += 1
        self._unlogged[kind] += 1
        now = time.monotonic()
        if now - self._logged_at[kind] >= LOG_EVERY_SECONDS:
            log.warning("closed %d client connection(s): %s (reported at most every %gs)", self._unlogged[kind],
                        detail, LOG_EVERY_SECONDS)
            self._logged_at[kind] = now
            self._unlogged[kind] = 0

    def protocol(self):
        """The protocol factory for ``uvicorn.run(http=...)`` (picklable, for worker processes)."""
        return functools.partial(GuardedHttpToolsProtocol, limits=self)


def _response(status: bytes) -> bytes:
    return b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above.

    One watchdog timer per connection, re-armed when it fires, checks the
    deadlines; the per-request path only notes times (a timer armed and
    cancelled per request costs ~3 us on uvloop, a few % of a request)."""

    def __init__(self, *args, limits: ConnectionLimits, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits
        self._watchdog = None
        self._head_bytes = 0
        self._reading_head = True  # no complete head yet for the request now arriving
        self._head_since: float | None = None  # its first byte (or the connection's opening); None: idle
        self._reading_body = False  # a head is in, its body is not complete yet
        self._body_byte_at = 0.0

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        limits = self._limits
        if len(self.connections) > limits.max_connections:
            limits.count("too_many_connections",
                         f"more than {limits.max_connections} open connections (--max_connections)")
            transport.write(_response(b"503 Service Unavailable"))
            transport.close()
            return
        self._head_since = self.loop.time()  # a connection that never sends a byte is timed out too
        self._watchdog = self.loop.call_later(limits.header_timeout, self._check)

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            if self._head_since is None:
                self._head_since = self.loop.time()  # the first byte of a request after a keep-alive wait
            self._head_bytes += len(data)
            super().data_received(data)
            if self._reading_head and self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
                self._limits.count("head_too_large", f"a request head over {MAX_HEAD_BYTES // 1024} KB")
                self.transport.write(_response(b"431 Request Header Fields Too Large"))
                self.transport.close()
            return
        if self._reading_body:
            self._body_byte_at = self.loop.time()
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_since = None
        self._reading_body = True
        self._body_byte_at = self.loop.time()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading_body = False
        super().on_message_complete()
        if self.cycle is not None and self.cycle.response_complete:
            self._next_head()  # answered before its body was all in (a 413, say): the next request comes now

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self._reading_body:
            self._next_head()

    def _next_head(self) -> None:
        # The wait for the next request is the keep-alive timeout's; ours starts at its first byte.
        self._reading_head = True
        self._head_bytes = 0

    def connection_lost(self, exc) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        super().connection_lost(exc)

    def _check(self) -> None:
        self._watchdog = None
        if self.transport.is_closing():
            return
        timeout = self._limits.header_timeout
        now = self.loop.time()
        if self._reading_head and self._head_since is not None:
            waited = now - self._head_since
            if waited >= timeout:
                self._limits.count("header_timeout", f"no complete request head within {timeout:g}s "
                                                     "(--header_timeout)")
                self._close(b"408 Request Timeout", answer=self._head_bytes > 0)
                return
        elif self._reading_body:
            waited = now - self._body_byte_at
            if waited >= timeout:
                self._limits.count("body_timeout", f"a request body stalled for {timeout:g}s (--header_timeout)")
                self._close(b"408 Request Timeout", answer=not self.cycle.response_started)
                return
        else:
            waited = 0.0  # idle between requests, or answering: nothing to time here
        self._watchdog = self.loop.call_later(timeout - waited, self._check)

    def _close(self, status: bytes, answer: bool) -> None:
        if answer:
            self.transport.write(_response(status))
        self.transport.close()
