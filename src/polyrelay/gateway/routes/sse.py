"""Relaying a stream to the client as server-sent events.

- The first chunk is awaited before the response starts, so an error the
  provider raises up front still gets a proper status and JSON error body.
- Then each chunk goes out as it arrives: ``data: {json}\\n\\n``, one
  serialisation per chunk, ending with ``data: [DONE]\\n\\n``. Chunks
  that arrived together (one network read upstream) go out in one write.
- An error after the response started cannot change the status any more:
  it is sent as one ``data: {"error": {...}}`` event, and the stream ends
  (no [DONE], so no client mistakes it for a complete answer).
- A client that disconnects cancels the relay, which closes the stream and
  with it the upstream request (``disconnect.py``; the LLM route watches
  the same way while the first chunk is awaited).
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson

from ..disconnect import DisconnectWatch
from ..http import (
    as_polyrelay_error,
    body_sender,
    error_body,
    error_dict,
    guardrail_headers,
    overhead_header,
    send_error,
)

log = logging.getLogger("polyrelay.gateway")

DONE = b"data: [DONE]\n\n"
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx and friends: do not buffer the stream
]


def frames(chunks: list[dict]) -> bytes:
    """Several events in one body: written at once, read by the client as separate events."""
    if len(chunks) == 1:  # the usual batch on a slow stream
        return b"data: " + orjson.dumps(chunks[0]) + b"\n\n"
    return b"".join(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks)


def chunk_batches(stream):
    """The stream's chunks as wire-shaped dicts, in lists of those ready at
    once. ``CompletionStream.next_batch`` builds no object per chunk only to
    dump it again; any other async iterator of chunk objects is dumped one
    by one."""
    next_batch = getattr(stream, "next_batch", None)
    if next_batch is not None:
        return next_batch

    async def dumped():
        return [(await anext(stream)).model_dump()]

    return dumped


class ChatFrames:
    """OpenAI's chat stream framing; a dialect's encoder (dialects/) has the same three methods."""

    chunks = staticmethod(frames)

    @staticmethod
    def end() -> bytes:
        return DONE

    @staticmethod
    def error(body: dict, status: int) -> bytes:
        return b"data: " + orjson.dumps(body) + b"\n\n"


CHAT_FRAMES = ChatFrames()


async def relay_stream(gateway, ctx, stream, scope, receive, send, encoder=CHAT_FRAMES, on_error=send_error) -> None:
    next_batch = chunk_batches(stream)
    waited = time.perf_counter()
    try:
        first = await next_batch()
    except StopAsyncIteration:
        first = None
    except Exception as exc:
        ctx.upstream_s += time.perf_counter() - waited
        await _close(stream)
        await on_error(send, exc, scope, gateway.secrets)
        return
    ctx.upstream_s += time.perf_counter() - waited
    hidden = getattr(stream, "_hidden_params", None) or {}
    headers = [*SSE_HEADERS, overhead_header(ctx)]
    if hidden.get("model_id"):
        headers.append((b"x-polyrelay-model-id", str(hidden["model_id"]).encode()))
    if "cache_key" in hidden:
        from ..cache import hidden_headers

        headers += hidden_headers(hidden)
    if ctx.guardrails:
        headers += guardrail_headers(ctx)
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    model = ctx.model or ""
    if first is not None:
        gateway.metrics.child(gateway.metrics.ttft, model).observe(time.perf_counter() - ctx.started)

    task = asyncio.current_task()
    watch = DisconnectWatch(receive, task)
    send = body_sender(send)
    chunks = encoder.chunks
    try:
        batch, first = first, None  # held no longer than it is sent
        while batch is not None and not getattr(stream, "ended", False):
            await send({"type": "http.response.body", "body": chunks(batch), "more_body": True})
            try:
                batch = await next_batch()
            except StopAsyncIteration:
                batch = None
        watch.stop()  # before the last send: completing the response makes receive() say "disconnect"
        # The last batch (when the stream said it was the last) goes out with [DONE], in one write.
        last = encoder.chunks(batch) + encoder.end() if batch is not None else encoder.end()
        await send({"type": "http.response.body", "body": last, "more_body": False})
        if batch is not None:
            await _run_to_end(next_batch)
        gateway.record_success(model, getattr(stream, "_hidden_params", None) or {}, getattr(stream, "usage", None))
    except asyncio.CancelledError:
        if not watch.disconnected:
            raise  # the server is shutting down: let cancellation run its course
        task.uncancel()
        ctx.error_type = "client_disconnected"
        log.debug("client disconnected mid-stream; upstream request cancelled")
    except Exception as exc:
        watch.stop()
        error = as_polyrelay_error(exc)
        ctx.error_type = error.type
        status, body = error_dict(error, gateway.secrets)
        await send({"type": "http.response.body", "body": encoder.error(body, status), "more_body": False})
    finally:
        watch.stop()
        await _close(stream)


async def _run_to_end(next_batch) -> None:
    """Pull once past the last batch: the stream's end (usage, cost, the
    router's and the spend record's callbacks) runs there."""
    try:
        await next_batch()
    except StopAsyncIteration:
        pass


async def _close(stream) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:  # closing a broken upstream may raise; the answer is already decided
            log.debug("error while closing a stream", exc_info=True)
