"""The slow-stream bench's instrument (bench/polybench/slowstream.py): its
upstream speaks OpenAI's streaming wire format, and its client counts every
event once however the bytes are split. Nothing here times anything."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import openai
import pytest

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "bench")
sys.path.insert(0, BENCH)

from polybench import slowstream  # noqa: E402
from polybench.procs import wait_port  # noqa: E402
from services import free_port  # noqa: E402

CHUNKS = 6
EVENTS = 1 + CHUNKS + 3  # role chunk, content chunks, finish chunk, usage chunk, [DONE]


@pytest.fixture(scope="module")
def upstream():
    port = free_port()
    process = subprocess.Popen([sys.executable, os.path.join(BENCH, "slow_streams.py"), "--serve-upstream",
                                "--base-port", str(port), "--chunks", str(CHUNKS), "--interval-ms", "1,3"])
    wait_port(port, process, "slow upstream")
    yield port
    process.terminate()
    process.wait(timeout=10)


def test_the_upstream_speaks_openais_stream_format(upstream):
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{upstream}/v1", api_key="sk-x", max_retries=0)
    chunks = list(client.chat.completions.create(model="slow", messages=[{"role": "user", "content": "hi"}],
                                                 stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "tok " * CHUNKS
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == CHUNKS
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_the_client_counts_each_event_of_each_stream(upstream):
    load = asyncio.run(slowstream.drive(upstream, 20, "slow", ramp_s=0.2, timeout=30))
    assert load.errors == 0
    assert [r.events for r in load.results] == [EVENTS] * 20
    assert all(r.status == 200 and r.done and r.ttfb_s is not None for r in load.results)
    assert load.ttfb_ms(0.5) <= load.ttfb_ms(0.99)


def test_a_refused_connection_is_an_error_not_a_hang():
    load = asyncio.run(slowstream.drive(free_port(), 3, "slow", ramp_s=0, timeout=5))
    assert load.errors == 3 and {r.error for r in load.results} == {"ConnectionRefusedError"}


def test_the_nginx_reference_relays_every_event(upstream, tmp_path):
    """--nginx-hop: one nginx worker relaying unbuffered, the floor a gateway's CPU per chunk is read against."""
    from polybench.upstream import pass_through_conf

    port = free_port()
    conf = tmp_path / "pass.conf"
    conf.write_text(pass_through_conf(str(tmp_path), port, upstream, os.geteuid() == 0))
    nginx = subprocess.Popen(["nginx", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(conf)])
    try:
        wait_port(port, nginx, "nginx pass-through", seconds=10)
        load = asyncio.run(slowstream.drive(port, 10, "slow", ramp_s=0.1, timeout=30))
        assert load.errors == 0 and [r.events for r in load.results] == [EVENTS] * 10
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)


def test_the_command_has_help():
    out = subprocess.run([sys.executable, os.path.join(BENCH, "slow_streams.py"), "--help"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and "--stages" in out.stdout


def test_events_split_byte_by_byte_are_counted_once():
    body = slowstream.FIRST + slowstream.TOKEN * 3 + slowstream._tail(3)

    async def scenario():
        async def answer(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            for byte in slowstream.HEAD + body:  # one byte per write: every marker straddles reads
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0)
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await slowstream.drive(port, 1, "slow", ramp_s=0, timeout=30)

    load = asyncio.run(scenario())
    assert load.errors == 0 and load.results[0].events == 1 + 3 + 3


def test_a_target_gets_its_own_headers():
    from polybench.targets import parse_target_headers

    headers = parse_target_headers(["portkey=x-portkey-provider: openai",
                                    "portkey=x-portkey-custom-host: {upstream}"], "prog")
    assert headers == {"portkey": {"x-portkey-provider": "openai", "x-portkey-custom-host": "{upstream}"}}
    request = slowstream.request_bytes(4000, "slow", "sk-1", headers["portkey"])
    head = request.split(b"\r\n\r\n")[0].decode()
    assert "x-portkey-provider: openai\r\n" in head + "\r\n" and "Authorization: Bearer sk-1" in head
    with pytest.raises(SystemExit, match="NAME=Header: value"):
        parse_target_headers(["portkey-no-header"], "prog")
