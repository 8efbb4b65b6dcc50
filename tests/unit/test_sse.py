"""The SSE and NDJSON decoders against the framing edge cases of the spec."""

import asyncio

from polyrelay.transport import iter_ndjson, iter_sse


def decode(decoder, pieces):
    async def source():
        for piece in pieces:
            yield piece

    async def collect():
        return [(e.event, e.data) async for batch in decoder(source()) for e in batch]

    return asyncio.run(collect())


def test_fields_comments_multiline_and_event_names():
    raw = b": comment\nevent: message_start\ndata: {\"a\":\ndata: 1}\nid: 7\nretry: 10\n\ndata:no-space\n\n"
    assert decode(iter_sse, [raw]) == [("message_start", '{"a":\n1}'), (None, "no-space")]


def test_any_split_gives_the_same_events():
    raw = b"data: one\r\n\r\nevent: e\rdata: two\r\rdata: three\n\n"
    whole = decode(iter_sse, [raw])
    assert whole == [(None, "one"), ("e", "two"), (None, "three")]
    for size in (1, 2, 3, 5):
        assert decode(iter_sse, [raw[i:i + size] for i in range(0, len(raw), size)]) == whole


def test_unterminated_last_event_is_discarded():
    assert decode(iter_sse, [b"data: complete\n\ndata: {\"cut"]) == [(None, "complete")]


def test_ndjson_lines():
    assert decode(iter_ndjson, [b'{"a":1}\n{"b"', b':2}\n\n{"c":3}']) == [(None, '{"a":1}'), (None, '{"b":2}'),
                                                                        (None, '{"c":3}')]


def test_events_come_in_batches_of_one_read():
    async def source():
        yield b"data: one\n\ndata: two\n\ndata: thr"
        yield b"ee\n\n"

    async def collect():
        return [[e.data for e in batch] async for batch in iter_sse(source())]

    assert asyncio.run(collect()) == [["one", "two"], ["three"]]
