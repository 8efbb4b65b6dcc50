"""Chunks that arrive in one network read come out as one batch, and the
last batch says it is the last, so a relay can write it with [DONE]."""

from __future__ import annotations

import asyncio
import time

import orjson

from polyrelay.params import plan
from polyrelay.providers.base import CHAT
from polyrelay.streaming import CompletionStream
from polyrelay.transport import iter_sse


def sse(*events) -> bytes:
    return b"".join(b"data: " + (e if isinstance(e, bytes) else orjson.dumps(e)) + b"\n\n" for e in events)


def chunk(content=None, finish=None, usage=None, choices=True):
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "delta": {"content": content} if content else {}, "finish_reason": finish}]
            if choices else [], "usage": usage}


def make_stream(reads: list[bytes]) -> CompletionStream:
    p = plan(CHAT, "openai/gpt-4o", {"messages": [{"role": "user", "content": "hi"}]},
             {"stream": True, "stream_options": {"include_usage": True}, "api_key": "sk-test"})

    async def source():
        for read in reads:
            yield read

    return CompletionStream(iter_sse(source()), p.adapter, p.call, bridge=None, kind=CHAT, include_usage=True,
                            hidden={}, started=time.perf_counter())


def test_one_read_is_one_final_batch_with_the_usage_chunk():
    usage = {"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10}
    stream = make_stream([sse(chunk("Hel"), chunk("lo"), chunk(finish="stop"), chunk(usage=usage, choices=False),
                              b"[DONE]")])
    ended = []
    stream.add_done_callback(lambda s, error: ended.append(error))

    async def run():
        batch = await stream.next_batch()
        assert stream.ended and not ended  # the last batch is out; the end runs on the next pull
        try:
            await stream.next_batch()
            raise AssertionError("nothing comes after the last batch")
        except StopAsyncIteration:
            pass
        return batch

    batch = asyncio.run(run())
    assert [c["choices"][0]["delta"].get("content") for c in batch[:3]] == ["Hel", "lo", None]
    assert batch[3]["choices"] == [] and batch[3]["usage"]["total_tokens"] == 10
    assert all(c["usage"] is None for c in batch[:3])
    assert ended == [None] and stream.usage.total_tokens == 10


def test_reads_stay_batches_and_an_error_after_a_chunk_comes_after_it():
    error = {"error": {"message": "overloaded", "type": "server_error", "code": None}}
    stream = make_stream([sse(chunk("a")), sse(chunk("b"), error)])

    async def run():
        first = await stream.next_batch()
        second = await stream.next_batch()  # "b" is delivered before the error is raised
        try:
            await stream.next_batch()
        except Exception as exc:
            return first, second, exc
        raise AssertionError("the error event must raise")

    first, second, exc = asyncio.run(run())
    assert [c["choices"][0]["delta"]["content"] for c in first + second] == ["a", "b"]
    assert "overloaded" in str(exc) and not stream.ended
