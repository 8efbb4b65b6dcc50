"""The seed pages' streaming loop, ``print(chunk.choices[0].delta)`` with
``include_usage`` (issue 13 item 9, SPEC 2 Streaming): it runs unchanged in
the SDK, and the gateway's wire chunk still says ``"choices":[]``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

import polyrelay
from fakeserver import Reply

MESSAGES = [{"role": "user", "content": "Hey, how's it going?"}]
OPENAI_STREAM = Path(__file__).resolve().parents[1] / "providers" / "fixtures" / "openai" / "chat_stream.txt"


def test_the_seed_loop_runs_on_the_mock_provider(capsys):
    response = polyrelay.completion(model="mock/x", messages=MESSAGES, stream=True,
                                    stream_options={"include_usage": True})
    for chunk in response:
        print(chunk.choices[0].delta)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) >= 3 and "content=None" in printed[-1]  # the usage chunk's stand-in delta
    assert chunk.choices == [] and chunk.usage.completion_tokens > 0


def test_the_seed_loop_runs_on_a_real_protocol_stream(fake):
    fake.reply(Reply(stream=[OPENAI_STREAM.read_bytes()]))
    pieces = []
    for chunk in polyrelay.completion(model="openai/gpt-4o-mini", messages=MESSAGES, api_base=fake.url,
                                      api_key="sk-test", stream=True, stream_options={"include_usage": True}):
        pieces.append(chunk.choices[0].delta.content or "")
    assert "".join(pieces) == "Hello!"
    assert chunk.choices == [] and chunk.usage.total_tokens == 11


def test_the_async_seed_loop():
    async def main():
        deltas = []
        stream = await polyrelay.acompletion(model="mock/x", messages=MESSAGES, stream=True,
                                             stream_options={"include_usage": True})
        async for chunk in stream:
            deltas.append(chunk.choices[0].delta)
        return deltas, chunk

    deltas, last = asyncio.run(main())
    assert deltas[-1].content is None and last.usage is not None


def test_text_completion_stream_usage_chunk_is_indexable_too():
    chunks = list(polyrelay.text_completion(model="mock/x", prompt="hi", stream=True,
                                            stream_options={"include_usage": True}))
    assert [c.choices[0].text for c in chunks][-1] == ""
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0


def test_the_wire_chunk_stays_a_plain_empty_list():
    # The gateway relays CompletionStream's dicts (next_dict / next_batch), never the objects.
    async def wire_chunks():
        stream = await polyrelay.acompletion(model="mock/x", messages=MESSAGES, stream=True,
                                             stream_options={"include_usage": True}, polyrelay_wire=True)
        out = []
        while True:
            try:
                out.append(await stream.next_dict())
            except StopAsyncIteration:
                return out

    last = asyncio.run(wire_chunks())[-1]
    assert type(last["choices"]) is list and last["choices"] == []
    assert b'"choices":[]' in orjson.dumps(last)
