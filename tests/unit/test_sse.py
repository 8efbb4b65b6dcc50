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


# --- size caps and linear buffering (issue 12, item 19) ------------------------------------------

def test_a_line_without_end_is_buffered_in_linear_time(monkeypatch):
    """8 MB in 256-byte reads with no newline: joined once, not once per read
    (that was ~137 GB of copying; it now takes milliseconds)."""
    import polyrelay
    from polyrelay.transport import iter_ndjson

    monkeypatch.setattr(polyrelay, "max_stream_event_size_mb", 16, raising=False)

    async def source():
        piece = b"x" * 256
        for i in range(32768):
            if i % 512 == 0:
                await asyncio.sleep(0)  # a real socket read yields to the loop: so the timeout can fire
            yield piece
        yield b"\n"

    async def collect():
        return [len(e.data) async for batch in iter_ndjson(source()) for e in batch]

    async def bounded():
        return await asyncio.wait_for(collect(), timeout=5)

    assert asyncio.run(bounded()) == [8 << 20]


def test_a_line_or_event_past_the_cap_ends_the_stream():
    import pytest

    from polyrelay import transport

    async def run(pieces, limit_mb):
        polyrelay_module = __import__("polyrelay")
        polyrelay_module.max_stream_event_size_mb = limit_mb
        try:
            async def source():
                for piece in pieces:
                    yield piece
            return [e.data async for batch in transport.iter_sse(source()) for e in batch]
        finally:
            del polyrelay_module.max_stream_event_size_mb

    one_kb = 1 / 1024
    assert asyncio.run(run([b"data: " + b"a" * 900 + b"\n\n"], one_kb)) == ["a" * 900]
    for pieces in ([b"data: " + b"a" * 600, b"a" * 600], [b"data: " + b"a" * 2000 + b"\n\n"],
                   [b"data: " + b"a" * 300 + b"\n"] * 5):
        with pytest.raises(transport.StreamFormatError, match="max_stream_event_size_mb"):
            asyncio.run(run(pieces, one_kb))


def test_bytes_that_are_not_utf8_end_the_stream():
    import pytest

    from polyrelay.transport import StreamFormatError

    with pytest.raises(StreamFormatError, match="UTF-8"):
        decode(iter_sse, [b"data: \xff\n\n"])


def test_whole_event_reads_and_any_other_read_give_the_same_events():
    # Reads of whole one-line data events are split at once; the rest (comments, event
    # names, multi-line data, \r, an event cut across reads) go line by line. Mixed in
    # one stream, the events are those of feeding the same bytes one at a time.
    reads = [
        b'data: {"a":1}\n\ndata: {"b":2}\n\n',
        b": keep-alive\n\ndata: x\n\n",
        b'data: {"cut',
        b'":3}\n\ndata: after-cut\n\n',
        b"event: named\ndata: e\n\n",
        b"data: two\ndata: lines\n\n",
        b"data: cr\r\n\r\n",
        b"data: \n\ndata:  leading-space\n\n\n\n",
        b"data: [DONE]\n\n",
    ]
    mixed = decode(iter_sse, reads)
    raw = b"".join(reads)
    assert mixed == decode(iter_sse, [raw[i:i + 1] for i in range(len(raw))])
    assert mixed == [(None, '{"a":1}'), (None, '{"b":2}'), (None, "x"), (None, '{"cut":3}'), (None, "after-cut"),
                     ("named", "e"), (None, "two\nlines"), (None, "cr"), (None, ""), (None, " leading-space"),
                     (None, "[DONE]")]


def test_bytes_that_are_not_utf8_are_refused_in_a_whole_event_read_too():
    import pytest

    from polyrelay.transport import StreamFormatError

    with pytest.raises(StreamFormatError, match="not UTF-8"):
        decode(iter_sse, [b"data: ok\n\n", b"data: \xff\xfe\n\n"])
