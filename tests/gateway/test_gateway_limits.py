"""Limits that keep one client or one upstream from starving the gateway
for everyone (issue 12, items 18, 19, 21, 26), against real gateway
processes on 127.0.0.1: half-open client connections, upstream answers
too large or unreadable, clients that leave before the answer."""

from __future__ import annotations

import json
import resource
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import reset
from fakeserver import Reply, sse
from gateway_process import GatewayProcess

MASTER = "sk-limits-master-1234"
AUTH = {"Authorization": f"Bearer {MASTER}"}
HELLO = [{"role": "user", "content": "hello"}]
CONFIG = (Path(__file__).parent / "configs" / "limits.yaml").read_text()


class HangingUpstream:
    """Takes a request and never answers; records how long until the gateway hung up."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.requests = 0
        self.hung_up: list[float] = []  # seconds from the request to the gateway closing the connection
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def start(self) -> "HangingUpstream":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._sock.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        conn.settimeout(20)
        with conn:
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                self.requests += 1
                got = time.monotonic()
                while conn.recv(65536):
                    pass  # the request body; then EOF when the gateway hangs up
                self.hung_up.append(time.monotonic() - got)
            except OSError:
                return


class FloodUpstream(HangingUpstream):
    """Answers a stream with one event, then bytes with no newline until the
    gateway hangs up (or 64 MB: the test then fails); records the bytes sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent_when_closed: list[int] = []

    def _hold(self, conn: socket.socket) -> None:
        conn.settimeout(20)
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            self.requests += 1
            first = f"data: {json.dumps(chunk('a'))}\n\n".encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n" + first)
            sent, piece = 0, b"y" * 65536
            try:
                while sent < 64 << 20:
                    conn.sendall(piece)
                    sent += len(piece)
            except OSError:
                self.sent_when_closed.append(sent)


@pytest.fixture(scope="module")
def hanging():
    server = HangingUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(upstream, hanging):
    process = GatewayProcess(CONFIG, env={"FAKE_UPSTREAM_BASE": upstream.url,
                                          "HANGING_UPSTREAM_BASE": hanging.url}).start()
    yield process
    process.stop()


@pytest.fixture
def http(gateway):
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        yield client


@pytest.fixture
def fake(upstream):
    return reset(upstream)


def chat(http, model="upstream", **extra):
    return http.post("/chat/completions", json={"model": model, "messages": HELLO, **extra}, headers=AUTH)


def chunk(content: str, finish: str | None = None) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]}


def sse_events(text: str) -> list[str]:
    return [block[len("data: "):] for block in text.split("\n\n") if block.startswith("data: ")]


ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


# --- 26: an upstream answer held in memory is capped ----------------------------------------------

def test_a_non_streamed_answer_over_the_cap_is_a_502_naming_the_limit(http, fake):
    padding = "x" * (1024 * 1024 + 10)  # max_response_size_mb: 1
    fake.reply(Reply(json={**ANSWER, "padding": padding}))
    response = chat(http)
    assert response.status_code == 502, response.text[:300]
    assert "max_response_size_mb" in response.json()["error"]["message"]
    fake.reply(Reply(json=ANSWER))
    assert chat(http).status_code == 200  # the gateway and the upstream pool are fine afterwards


def test_an_answer_under_the_cap_passes(http, fake):
    fake.reply(Reply(json={**ANSWER, "padding": "x" * 500_000}))
    assert chat(http).status_code == 200


# --- 19: stream lines and events are capped -----------------------------------------------------------

def test_a_stream_without_newlines_ends_with_one_error_event(http, fake):
    first = f"data: {json.dumps(chunk('a'))}\n\n".encode()
    fake.reply(Reply(stream=[first] + [b"y" * 65536] * 8))  # 512 KB with no newline; the cap is 0.25 MB
    with http.stream("POST", "/chat/completions", headers=AUTH,
                     json={"model": "upstream", "messages": HELLO, "stream": True}) as response:
        assert response.status_code == 200
        events = sse_events(response.read().decode())
    assert json.loads(events[0])["choices"][0]["delta"]["content"] == "a"
    assert len(events) == 2 and "[DONE]" not in events
    error = json.loads(events[1])["error"]
    assert "max_stream_event_size_mb" in error["message"]


def test_an_event_of_many_short_data_lines_is_capped_too(http, fake):
    line = b"data: " + b"z" * 100 + b"\n"
    fake.reply(Reply(stream=[line * 2000, line * 2000]))  # 400 KB of data in one event, never dispatched
    response = chat(http, stream=True)
    assert response.status_code == 502, response.text[:300]
    assert "max_stream_event_size_mb" in response.json()["error"]["message"]


def test_a_stream_over_the_line_cap_closes_the_upstream_connection(upstream, hanging):
    flood = FloodUpstream().start()
    process = GatewayProcess(CONFIG.replace("os.environ/HANGING_UPSTREAM_BASE", flood.url),
                             env={"FAKE_UPSTREAM_BASE": upstream.url}).start()
    try:
        with httpx.Client(base_url=process.url, timeout=20) as http:
            response = chat(http, model="hanging", stream=True)
        events = sse_events(response.text)
        assert "max_stream_event_size_mb" in json.loads(events[-1])["error"]["message"]
        deadline = time.monotonic() + 5
        while not flood.sent_when_closed and time.monotonic() < deadline:
            time.sleep(0.05)
        assert flood.sent_when_closed, "the upstream was still being read 5 s after the cap"
        assert flood.sent_when_closed[0] < 16 << 20  # stopped near the 0.25 MB cap (plus socket buffers)
    finally:
        process.stop()
        flood.stop()


# --- 21: unreadable upstream answers are clean errors -------------------------------------------------

@pytest.mark.parametrize("event", ["not json", "[1, 2]", '"a string"', "5", '{"choices": 5}'])
def test_an_unreadable_first_stream_event_is_a_502(http, fake, event):
    fake.reply(Reply(stream=sse(event)))
    response = chat(http, stream=True)
    assert response.status_code == 502, response.text[:300]
    assert "cannot read" in response.json()["error"]["message"]


def test_an_unreadable_event_mid_stream_is_one_error_event(http, fake):
    fake.reply(Reply(stream=sse(chunk("a"), "[1, 2]", chunk("b", "stop"))))
    with http.stream("POST", "/chat/completions", headers=AUTH,
                     json={"model": "upstream", "messages": HELLO, "stream": True}) as response:
        assert response.status_code == 200
        events = sse_events(response.read().decode())
    assert len(events) == 2
    error = json.loads(events[1])["error"]
    assert error["code"] == "upstream_bad_event" and "cannot read" in error["message"]


def test_a_stream_that_is_not_utf8_is_a_502(http, fake):
    fake.reply(Reply(stream=[b"data: \xff\xfe\n\n"]))
    response = chat(http, stream=True)
    assert response.status_code == 502, response.text[:300]
    assert "UTF-8" in response.json()["error"]["message"]


def test_a_stream_of_garbage_lines_is_a_502(http, fake):
    fake.reply(Reply(stream=[b"garbage\n\nmore garbage\n\n"]))
    response = chat(http, stream=True)
    assert response.status_code == 502, response.text[:300]


@pytest.mark.parametrize("body", [b"[1]", b'"text"', b"null", b'{"choices": 5}'])
def test_a_non_object_answer_is_a_502(http, fake, body):
    fake.reply(Reply(body=body))
    response = chat(http)
    assert response.status_code == 502, response.text[:300]


def test_an_api_base_that_is_not_http_is_a_400(http):
    response = chat(http, model="local-file")
    assert response.status_code == 400, response.text[:300]
    assert "api_base" in response.json()["error"]["message"]


# --- 19: a client that leaves before the answer cancels the upstream call -------------------------

@pytest.mark.parametrize("stream", [False, True])
def test_a_client_that_leaves_before_the_answer_cancels_the_upstream_call(gateway, hanging, stream):
    before = len(hanging.hung_up)
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        body = json.dumps({"model": "hanging", "messages": HELLO, "stream": stream}).encode()
        sock.sendall(b"POST /chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + MASTER.encode() + b"\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        deadline = time.monotonic() + 5
        while hanging.requests <= before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert hanging.requests > before, "the gateway never called the upstream"
    # the client is gone: the gateway must hang up on the upstream
    deadline = time.monotonic() + 5
    while len(hanging.hung_up) <= before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(hanging.hung_up) > before, "the upstream call was still open 5 s after the client left"
    assert httpx.get(gateway.url + "/health/liveliness", timeout=5).status_code == 200


# --- 18: half-open client connections cannot starve the gateway -------------------------------------

HALF_HEAD = b"POST /chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl"


def _few_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


@pytest.fixture(scope="module")
def small_gateway(upstream, hanging):
    """A gateway with 256 file descriptors, as a host with a low limit has."""
    process = GatewayProcess(CONFIG, env={"FAKE_UPSTREAM_BASE": upstream.url, "HANGING_UPSTREAM_BASE": hanging.url},
                             preexec_fn=_few_descriptors).start()
    yield process
    process.stop()


def _open_half_heads(port: int, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(HALF_HEAD)
        socks.append(sock)
    return socks


def _closed_by_server(sock: socket.socket, within: float) -> bytes | None:
    """What the server wrote before closing, or None if it kept the connection open."""
    sock.settimeout(within)
    data = b""
    try:
        while chunk_ := sock.recv(4096):
            data += chunk_
    except socket.timeout:
        return None
    except ConnectionResetError:
        pass
    return data


def test_half_sent_heads_are_timed_out_and_the_gateway_keeps_answering(small_gateway):
    socks = _open_half_heads(small_gateway.port, 50)  # under max_connections (100)
    try:
        started = time.monotonic()
        assert httpx.get(small_gateway.url + "/health/liveliness", timeout=5).status_code == 200
        more = _open_half_heads(small_gateway.port, 250)  # past max_connections, and past 256 descriptors
        socks += more
        # over the cap: answered 503 and closed at once
        assert b" 503 " in (_closed_by_server(more[-1], 2) or b"")
        # the rest: 408 and closed once header_timeout_seconds (2) has passed
        answers = [_closed_by_server(sock, max(0.1, 6 - (time.monotonic() - started))) for sock in socks]
        still_open = sum(answer is None for answer in answers)
        assert still_open == 0, f"{still_open} half-open connections still held after 6 s"
        assert sum(b" 408 " in answer for answer in answers) >= 50
        assert httpx.get(small_gateway.url + "/health/liveliness", timeout=5).status_code == 200
    finally:
        for sock in socks:
            sock.close()
    log = small_gateway.log
    assert "no complete request head within 2s" in log
    assert "more than 100 open connections" in log


def test_an_oversized_head_is_refused(small_gateway):
    with socket.create_connection(("127.0.0.1", small_gateway.port), timeout=5) as sock:
        sock.sendall(b"GET /health/liveliness HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(20):
                sock.sendall(b"X-Filler: " + b"f" * 8000 + b"\r\n")
        except OSError:
            pass  # the server closed first
        assert b" 431 " in (_closed_by_server(sock, 5) or b"")


def test_a_complete_request_on_a_kept_alive_connection_is_not_timed_out(small_gateway):
    with httpx.Client(base_url=small_gateway.url, timeout=5) as client:
        assert client.get("/health/liveliness").status_code == 200
        time.sleep(2.5)  # longer than header_timeout_seconds, shorter than keep-alive
        assert client.get("/health/liveliness").status_code == 200


def test_a_stalled_body_is_timed_out_but_a_slow_steady_one_is_not(small_gateway):
    head = (b"POST /chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + MASTER.encode() + b"\r\nContent-Length: 60\r\n\r\n")
    with socket.create_connection(("127.0.0.1", small_gateway.port), timeout=5) as stalled, \
            socket.create_connection(("127.0.0.1", small_gateway.port), timeout=5) as steady:
        stalled.sendall(head + b"x" * 10)
        steady.sendall(head)
        for _ in range(6):  # 3 s in all, longer than header_timeout_seconds (2), but never 2 s without a byte
            steady.sendall(b"x" * 10)
            time.sleep(0.5)
        assert b" 400 " in steady.recv(4096)  # read to its end, then refused as not JSON
        assert b" 408 " in (_closed_by_server(stalled, 3) or b"")
    assert "a request body stalled for 2s" in small_gateway.log
