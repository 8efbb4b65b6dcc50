"""The dispatcher's per-sink queue and the pipe to the sink process: what the
gateway's loop pays per record, kept small, without changing what is delivered."""

from __future__ import annotations

import asyncio
import fcntl
import time

import orjson

from polyrelay.observe import dispatcher, sink_process


class Collecting:
    name = "collecting"
    retries, timeout = 0, 5.0

    def __init__(self, batch_size: int, flush_interval: float) -> None:
        self.batch_size, self.flush_interval = batch_size, flush_interval
        self.batches: list[tuple[float, list]] = []

    async def send(self, batch: list) -> None:
        self.batches.append((time.monotonic(), [record for _, record in batch]))


def test_a_worker_batches_in_order_and_waits_only_for_a_batch_that_is_not_full(monkeypatch):
    async def scenario():
        loop_dispatcher = dispatcher.Dispatcher()
        loop_dispatcher.attach(asyncio.get_running_loop())
        full = Collecting(batch_size=5, flush_interval=10.0)  # a full batch goes at once, not after 10 s
        started = time.monotonic()
        for n in range(10):
            loop_dispatcher.submit("success", n, (full,))
        await asyncio.wait_for(loop_dispatcher.drained(), 5)
        assert [records for _, records in full.batches] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
        assert time.monotonic() - started < 5

        partial = Collecting(batch_size=5, flush_interval=0.3)
        started = time.monotonic()
        for n in range(7):
            loop_dispatcher.submit("success", n, (partial,))
        await asyncio.wait_for(loop_dispatcher.drained(), 5)
        (first_at, first), (second_at, second) = partial.batches
        assert first == [0, 1, 2, 3, 4] and second == [5, 6]
        assert second_at - started >= 0.25  # the short batch waited for more, then went

        taking = Collecting(batch_size=1_000, flush_interval=0.0)  # a CustomLogger's: what is queued, now
        for n in range(3):
            loop_dispatcher.submit("success", n, (taking,))
        await asyncio.wait_for(loop_dispatcher.drained(), 5)
        assert [r for _, records in taking.batches for r in records] == [0, 1, 2]
        await loop_dispatcher.detach(5)

    asyncio.run(scenario())


def test_a_full_worker_queue_drops_and_counts(monkeypatch):
    monkeypatch.setattr(dispatcher, "SINK_QUEUE_SIZE", 4)

    async def scenario():
        loop_dispatcher = dispatcher.Dispatcher()
        loop_dispatcher.attach(asyncio.get_running_loop())
        sink = Collecting(batch_size=100, flush_interval=0.2)
        for n in range(6):
            loop_dispatcher.submit("success", n, (sink,))
        await asyncio.wait_for(loop_dispatcher.drained(), 5)
        assert [r for _, records in sink.batches for r in records] == [0, 1, 2, 3]
        assert loop_dispatcher.dropped == {"collecting": 2}
        await loop_dispatcher.detach(5)

    asyncio.run(scenario())


def test_payloads_cross_as_json_and_keys_that_are_not_strings_still_do():
    payload = {"id": "call-1", "metadata": {"tags": ["a"], "when": time}, "n": 1}
    assert orjson.loads(sink_process.encode(payload)) == {"id": "call-1", "metadata": {"tags": ["a"], "when": str(time)},
                                                         "n": 1}
    odd = {"metadata": {1: "one", "two": 2}}
    assert orjson.loads(sink_process.encode(odd)) == {"metadata": {"1": "one", "two": 2}}


def test_the_pipe_to_the_sink_process_holds_many_records():
    """Linux gives a pipe 64 KiB (~25 records): a write that did not fit went to the writer
    thread, whose GIL hand-overs with the loop cost more than the records. Widened to 1 MiB
    where /proc/sys/fs/pipe-max-size allows."""
    with open("/proc/sys/fs/pipe-max-size") as f:
        allowed = int(f.read())
    channel = sink_process.Channel()
    channel.start()
    try:
        size = fcntl.fcntl(channel._child.stdin.fileno(), 1032)  # F_GETPIPE_SZ
        assert size >= min(allowed, sink_process.PIPE_SIZE) > 64 * 1024
    finally:
        channel.close(10)


def test_the_sink_process_reads_past_a_line_it_cannot_read(tmp_path):
    """Records before and after a broken line are still delivered, and the process
    answers a flush (a reading thread that died here took every later record with it)."""
    import select
    import subprocess
    import sys

    import pytest

    out = tmp_path / "records.jsonl"
    module = tmp_path / "collect_sink.py"
    module.write_text("import json, os\n"
                      "class Sink:\n"
                      "    name = 'collect'\n"
                      "    batch_size, retries, timeout, flush_interval = 10, 0, 5.0, 0.0\n"
                      "    handler = None\n"
                      "    def wants(self, phase):\n"
                      "        return True\n"
                      "    async def send(self, batch):\n"
                      "        with open(os.environ['COLLECT_TO'], 'a') as f:\n"
                      "            for _, record in batch:\n"
                      "                f.write(json.dumps(record.standard_logging_object()) + '\\n')\n")
    bootstrap = ("import sys; sys.path.insert(0, sys.argv[1]); import collect_sink; "
                 "from polyrelay.observe import handlers; handlers.NAMED_SINKS or handlers._register_named(); "
                 "handlers.NAMED_SINKS['collect'] = collect_sink.Sink; "
                 "from polyrelay.observe import sink_process; sink_process.main()")
    child = subprocess.Popen([sys.executable, "-c", bootstrap, str(tmp_path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, env={**__import__("os").environ, "COLLECT_TO": str(out)})
    try:
        child.stdin.write(b'{"sinks": ["collect"]}\n')
        child.stdin.write(b'collect\tsuccess\t{"id": "first"}\n')
        child.stdin.write(b'collect\tsuccess\t{"id": broken\n')
        child.stdin.write(b'collect\tsuccess\t{"id": "after"}\n')
        child.stdin.write(b"!flush\t7\n")
        child.stdin.flush()
        answer = {}
        while answer.get("flushed") != 7:
            if not select.select([child.stdout], [], [], 30)[0]:
                pytest.fail("the sink process did not answer the flush in 30 s")
            line = child.stdout.readline()
            if not line:
                pytest.fail("the sink process exited without answering the flush")
            answer = orjson.loads(line)
        assert [orjson.loads(line)["id"] for line in out.read_text().splitlines()] == ["first", "after"]
        assert answer["delivered"] == {"collect": 2}
    finally:
        child.stdin.close()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
