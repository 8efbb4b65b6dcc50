"""Slow streams: the shape of real LLM traffic, where every answer streams for
seconds, a token a chunk, so a gateway holds thousands of open streams.

- ``serve_upstream``: an OpenAI-style upstream whose every answer is a stream of
  ``chunks`` SSE events, each stream at its own pace (drawn between ``lo_ms``
  and ``hi_ms`` per chunk), ending with the ``include_usage`` chunk and
  ``[DONE]``. One timer walks all open streams every few milliseconds, so the
  upstream itself stays cheap at thousands of streams.
- ``drive``: N concurrent client streams on raw sockets (no HTTP library in
  the way), each recording its time to first event, its event count and how
  it ended.

bench/slow_streams.py runs the stages and reports; this module has no opinion
about targets.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from dataclasses import dataclass, field

TICK_S = 0.005
_CONTENT_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


def _event(data: dict | str) -> bytes:
    """One SSE event in one HTTP/1.1 chunk."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    payload = f"data: {text}\n\n".encode()
    return f"{len(payload):x}\r\n".encode() + payload + b"\r\n"


def _chunk(delta: dict, finish: str | None = None) -> dict:
    return {"id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": 1700000000, "model": "slow-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n")
FIRST = _event(_chunk({"role": "assistant", "content": ""}))
TOKEN = _event(_chunk({"content": "tok "}))


def _tail(chunks: int) -> bytes:
    usage = {"id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": 1700000000, "model": "slow-model",
             "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": 12 + chunks}}
    return _event(_chunk({}, "stop")) + _event(usage) + _event("[DONE]") + b"0\r\n\r\n"


@dataclass
class _Stream:
    transport: asyncio.Transport
    due: float
    interval: float
    left: int


async def serve_upstream(port: int, chunks: int, lo_ms: float, hi_ms: float) -> None:
    """Serve slow streams on 127.0.0.1:port until cancelled."""
    loop = asyncio.get_running_loop()
    open_streams: list[_Stream] = []
    tail = _tail(chunks)
    rng = random.Random(7)

    class Upstream(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport, self.buffer = transport, b""

        def data_received(self, data):
            self.buffer += data
            while True:  # keep-alive: a connection carries one request after another
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                match = _CONTENT_LENGTH.search(self.buffer, 0, end)
                size = int(match.group(1)) if match else 0
                if len(self.buffer) < end + 4 + size:
                    return
                self.buffer = self.buffer[end + 4 + size:]
                self.transport.write(HEAD + FIRST)
                interval = rng.uniform(lo_ms, hi_ms) / 1000
                open_streams.append(_Stream(self.transport, loop.time() + interval, interval, chunks))

    server = await loop.create_server(Upstream, "127.0.0.1", port, backlog=4096)
    try:
        while True:
            await asyncio.sleep(TICK_S)
            now = loop.time()
            still = []
            for stream in open_streams:
                if stream.transport.is_closing():
                    continue
                while stream.left and stream.due <= now:
                    stream.transport.write(TOKEN)
                    stream.left -= 1
                    stream.due += stream.interval
                if stream.left:
                    still.append(stream)
                else:
                    stream.transport.write(tail)
            open_streams[:] = still
    finally:
        server.close()


@dataclass
class StreamResult:
    status: int = 0
    ttfb_s: float | None = None  # request sent -> first SSE event
    events: int = 0
    done: bool = False
    error: str = ""


@dataclass
class Load:
    results: list[StreamResult] = field(default_factory=list)
    all_open_at: float | None = None  # monotonic time when every stream had its first event

    @property
    def errors(self) -> int:
        return sum(1 for r in self.results if r.error or not r.done or r.status != 200)

    @property
    def events(self) -> int:
        return sum(r.events for r in self.results)

    def ttfb_ms(self, quantile: float) -> float | None:
        values = sorted(r.ttfb_s for r in self.results if r.ttfb_s is not None)
        if not values:
            return None
        return 1000 * values[min(len(values) - 1, int(quantile * len(values)))]


def request_bytes(port: int, model: str, key: str | None, headers: dict[str, str] | None = None) -> bytes:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "tell me a long story"}],
                       "stream": True, "stream_options": {"include_usage": True}}).encode()
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    return (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"{auth}{extra}Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _one_stream(port: int, request: bytes, timeout: float, result: StreamResult, first: asyncio.Event) -> None:
    writer = None
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sent = time.monotonic()
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        result.status = int(head.split(b" ", 2)[1])
        carry = b""
        deadline = sent + timeout
        while True:
            data = await asyncio.wait_for(reader.read(65536), max(0.1, deadline - time.monotonic()))
            if not data:
                break
            window = carry + data
            count = window.count(b"data: ")
            if count and result.ttfb_s is None:
                result.ttfb_s = time.monotonic() - sent
                first.set()
            result.events += count
            if b"[DONE]" in window:
                result.done = True
                break
            # Five bytes are too few to hold a whole marker ("data: ", "[DONE]"), so a marker split
            # across two reads is found once, in the next window, and none is counted twice.
            carry = window[-5:]
    except Exception as exc:  # noqa: BLE001 - every failure is a counted error, with its kind
        result.error = type(exc).__name__
    finally:
        if writer is not None:
            writer.close()


async def drive(port: int, streams: int, model: str, key: str | None = None, ramp_s: float = 1.0,
                timeout: float = 120.0, headers: dict[str, str] | None = None) -> Load:
    """``streams`` concurrent streaming calls, started evenly over ``ramp_s``."""
    load = Load([StreamResult() for _ in range(streams)])
    request = request_bytes(port, model, key, headers)
    firsts = [asyncio.Event() for _ in range(streams)]
    tasks = []
    for index in range(streams):
        tasks.append(asyncio.create_task(_one_stream(port, request, timeout, load.results[index], firsts[index])))
        if ramp_s:
            await asyncio.sleep(ramp_s / streams)

    async def all_open():
        await asyncio.gather(*(event.wait() for event in firsts))
        load.all_open_at = time.monotonic()

    watcher = asyncio.create_task(all_open())
    await asyncio.gather(*tasks)
    watcher.cancel()
    return load
