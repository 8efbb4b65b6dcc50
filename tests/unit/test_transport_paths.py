"""Which upstream client a process uses, and that neither caps how many calls
run at once (issue 23: NO_PROXY alone sent every call through aiohttp's
100-connection pool, so long streams queued behind each other)."""

from __future__ import annotations

import asyncio

import pytest

from polyrelay import http1, transport
from polyrelay.proxied import ProxiedClient

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
              "no_proxy")


@pytest.fixture
def no_proxy_env(monkeypatch):
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_no_proxy_alone_keeps_the_direct_client(no_proxy_env):
    no_proxy_env.setenv("NO_PROXY", "localhost,127.0.0.1,.svc.cluster.local")
    assert not transport.uses_proxy()
    assert isinstance(transport._new_client(), http1.Client)


def test_a_proxy_variable_selects_the_proxy_client(no_proxy_env):
    no_proxy_env.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert transport.uses_proxy()

    async def made():
        client = transport._new_client()
        await client.close()
        return client

    assert isinstance(asyncio.run(made()), ProxiedClient)


def test_the_proxy_client_runs_more_than_a_hundred_calls_at_once(no_proxy_env):
    """A slow upstream that holds each request until 150 are open at once: with a
    pool capped at 100 this never completes."""
    wanted = 150

    async def scenario():
        open_now = 0
        all_open = asyncio.Event()

        async def handle(reader, writer):
            nonlocal open_now
            await reader.readuntil(b"\r\n\r\n")
            open_now += 1
            if open_now >= wanted:
                all_open.set()
            await all_open.wait()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = ProxiedClient()
        try:
            async def one():
                response = await client.request("GET", f"http://127.0.0.1:{port}/", {}, None, timeout=10,
                                                connect_timeout=5)
                return await response.read(10)

            bodies = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(wanted))), 20)
        finally:
            await client.close()
            server.close()
        return bodies

    assert asyncio.run(scenario()) == [b"{}"] * wanted
