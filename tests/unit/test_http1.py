"""The upstream HTTP/1.1 client against servers on 127.0.0.1 that send
exactly the bytes each case needs: keep-alive, a connection the server
dropped while idle, chunked and close-delimited bodies, gzip, timeouts,
header injection, and a real TLS handshake."""

from __future__ import annotations

import asyncio
import gzip
import ssl
from pathlib import Path

import pytest

from polyrelay import http1

TLS = Path(__file__).parent.parent / "fixtures" / "tls"


class Script:
    """A TCP server answering each request on a connection with the next scripted reply."""

    def __init__(self, *replies: bytes, close_after_each: bool = False, tls: ssl.SSLContext | None = None) -> None:
        self.replies = list(replies)
        self.requests: list[bytes] = []
        self.connections = 0
        self.close_after_each = close_after_each
        self.tls = tls

    async def __aenter__(self) -> "Script":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    async def _serve(self, reader, writer) -> None:
        self.connections += 1
        try:
            while self.replies:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.requests.append(head + await reader.readexactly(length))
                reply = self.replies.pop(0)
                if reply == b"STALL":
                    await asyncio.sleep(5)
                    return
                writer.write(reply)
                await writer.drain()
                if self.close_after_each:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


async def serving(handler) -> tuple[asyncio.AbstractServer, int]:
    """A server on 127.0.0.1 that runs ``handler(reader, writer)`` per connection, and its port."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def read_request(reader, body_length: int) -> None:
    await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(body_length)


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def get(client, port, path="/v1/x", headers=None, scheme="http", host="127.0.0.1"):
    response = await client.request("POST", f"{scheme}://{host}:{port}{path}", headers or {}, b'{"a":1}',
                                    timeout=2, connect_timeout=2)
    return response, await response.read(2)


def run(coro):
    return asyncio.run(coro)


def test_keep_alive_reuses_one_connection_and_sends_a_proper_request():
    async def main():
        async with Script(ok(b"one"), ok(b"two")) as server:
            client = http1.Client()
            first = await get(client, server.port, "/v1/chat?x=1", {"Authorization": "Bearer k"})
            second = await get(client, server.port)
            await client.close()
            return server, first, second

    server, (r1, b1), (_, b2) = run(main())
    assert (r1.status, b1, b2) == (200, b"one", b"two")
    assert server.connections == 1
    head = server.requests[0].decode()
    assert head.startswith("POST /v1/chat?x=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n" in head and "Authorization: Bearer k\r\n" in head
    assert "Content-Length: 7\r\n" in head and head.endswith('{"a":1}')


def test_a_connection_the_server_closed_while_idle_is_replaced_transparently():
    async def main():
        async with Script(ok(b"one"), ok(b"two"), close_after_each=True) as server:
            client = http1.Client()
            await get(client, server.port)
            await asyncio.sleep(0.05)  # the server has closed its side by now
            _, body = await get(client, server.port)
            await client.close()
            return server, body

    server, body = run(main())
    assert body == b"two" and server.connections == 2


def test_chunked_close_delimited_and_gzip_bodies():
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    packed = gzip.compress(b'{"zipped": true}')
    zipped = ok(packed, b"Content-Encoding: gzip\r\n")
    until_close = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end"

    async def main():
        client = http1.Client()
        async with Script(chunked, zipped) as server:
            a = await get(client, server.port)
            b = await get(client, server.port)
        async with Script(until_close, close_after_each=True) as server:
            c = await get(client, server.port)
        await client.close()
        return a[1], b[1], c[1], b[0].headers["content-encoding"]

    assert run(main()) == (b"abcde", b'{"zipped": true}', b"to the end", "gzip")


def test_streamed_body_arrives_piece_by_piece():
    async def main():
        async def serve(reader, writer):
            await read_request(reader, 7)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
            await writer.drain()
            await asyncio.sleep(0.2)
            writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
            await writer.drain()
            writer.close()

        server, port = await serving(serve)
        client = http1.Client()
        response = await client.request("POST", f"http://127.0.0.1:{port}/", {}, b'{"a":1}', timeout=2,
                                        connect_timeout=2)
        pieces = [(piece, asyncio.get_running_loop().time()) async for piece in response.iter_chunks(2)]
        await client.close()
        server.close()
        return pieces

    pieces = run(main())
    assert [p for p, _ in pieces] == [b"first", b"second"]
    assert pieces[1][1] - pieces[0][1] > 0.15  # the first piece was handed over before the second existed


def test_no_bytes_for_too_long_is_a_read_timeout():
    async def main():
        async with Script(b"STALL") as server:
            client = http1.Client()
            with pytest.raises(http1.ReadTimeout):
                await client.request("POST", f"http://127.0.0.1:{server.port}/", {}, b"{}", timeout=0.3,
                                     connect_timeout=2)
            await client.close()

    run(main())


def test_a_body_that_stops_coming_mid_stream_is_a_read_timeout():
    # One timer per connection serves every wait (re-armed when a wait outlives the
    # one it was armed for): pieces that keep coming within the timeout never trip it,
    # a stall after them does.
    async def main():
        server = await asyncio.start_server(slow_body, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = http1.Client()
        response = await client.request("GET", f"http://127.0.0.1:{port}/", {}, None, timeout=1.0,
                                        connect_timeout=2)
        pieces = []
        with pytest.raises(http1.ReadTimeout):
            async for piece in response.iter_chunks(1.0):
                pieces.append(piece)
        await client.close()
        server.close()
        return pieces

    async def slow_body(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(4):  # 4 x 0.3 s: longer in all than the timeout, each gap well within it
            await asyncio.sleep(0.3)
            writer.write(b"5\r\npiece\r\n")
            await writer.drain()
        await asyncio.sleep(4)  # then nothing
        writer.close()

    assert run(main()) == [b"piece"] * 4


def test_a_refused_connection_and_a_line_break_in_a_header_are_errors():
    async def main():
        client = http1.Client()
        with pytest.raises(http1.HTTPError):
            await client.request("GET", "http://127.0.0.1:9/", {}, None, timeout=1, connect_timeout=1)
        with pytest.raises(http1.InvalidHeader):
            await client.request("GET", "http://127.0.0.1:9/", {"X-Evil": "a\r\nHost: other"}, None, timeout=1,
                                 connect_timeout=1)
        await client.close()

    run(main())


def test_tls_handshake_verifies_the_server_certificate():
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(TLS / "localhost.crt", TLS / "localhost.key")
    trusting = ssl.create_default_context(cafile=str(TLS / "localhost.crt"))

    async def main():
        async with Script(ok(b"secure"), ok(b"unused"), tls=served) as server:
            good = await get(http1.Client(ssl_context=trusting), server.port, scheme="https", host="localhost")
            stranger = http1.Client()  # the system's CAs: they never signed this certificate
            with pytest.raises(http1.HTTPError, match="certificate"):
                await get(stranger, server.port, scheme="https", host="localhost")
            return good[1]

    assert run(main()) == b"secure"


def test_a_body_that_stops_coming_times_out_and_its_connection_is_closed():
    async def main():
        async def serve(reader, writer):
            await read_request(reader, 2)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
            await writer.drain()
            await asyncio.sleep(3)
            writer.close()

        server, port = await serving(serve)
        client = http1.Client()
        response = await client.request("POST", f"http://127.0.0.1:{port}/", {}, b"{}", timeout=0.3, connect_timeout=2)
        with pytest.raises(http1.ReadTimeout):
            await response.read(0.3)
        conn = response._conn
        await asyncio.sleep(0)
        server.close()
        await client.close()
        return conn.closed, conn.transport.is_closing()

    assert run(main()) == (True, True)


# --- a cap on bodies read whole (issue 12, item 26) ----------------------------------------------

def test_a_body_over_the_cap_is_refused_and_its_connection_closed():
    async def main():
        big = b"x" * 300_000
        async with Script(ok(big), ok(b"small")) as server:
            client = http1.Client()
            url = f"http://127.0.0.1:{server.port}/v1/x"
            response = await client.request("POST", url, {}, b"{}", timeout=2, connect_timeout=2,
                                            body_limit=100_000)
            with pytest.raises(http1.ResponseTooLarge, match="max_response_size_mb"):
                await response.read(2, 100_000)
            response = await client.request("POST", url, {}, b"{}", timeout=2, connect_timeout=2)
            assert await response.read(2, 100_000) == b"small"
            assert server.connections == 2  # the refused answer's connection was not reused
            await client.close()

    asyncio.run(main())


def test_a_gzip_bomb_is_refused_without_inflating_it():
    import tracemalloc

    bomb = gzip.compress(b"\0" * (64 << 20))  # ~64 KB on the wire, 64 MB inflated

    async def main():
        async with Script(ok(bomb, b"Content-Encoding: gzip\r\n")) as server:
            client = http1.Client()
            tracemalloc.start()
            try:
                response = await client.request("POST", f"http://127.0.0.1:{server.port}/v1/x", {}, b"{}",
                                                timeout=2, connect_timeout=2, body_limit=1 << 20)
                with pytest.raises(http1.ResponseTooLarge):
                    await response.read(2, 1 << 20)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
                await client.close()
            assert peak < 8 << 20, f"{peak / 1e6:.0f} MB allocated while refusing a 1 MB cap"

    asyncio.run(main())
