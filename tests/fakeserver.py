"""A scriptable HTTP server on 127.0.0.1 for provider tests.

It speaks plain HTTP/1.1 from a thread, records every request it gets
(method, path, query, headers, body) and answers from a queue of scripted
replies: a JSON body, raw bytes, or a stream written piece by piece with
pauses (to split events across reads), optionally cut off mid-way.
Fixtures for each provider's wire format live beside the tests that use them.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: list[bytes] | None = None  # written one piece at a time, then the connection closes
    piece_delay: float = 0.0
    delay: float = 0.0  # before the status line


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def sse(*events: Any, done: bool = True) -> list[bytes]:
    """OpenAI-style SSE pieces: one ``data:`` event per object, then [DONE]."""
    pieces = [f"data: {json.dumps(e) if not isinstance(e, str) else e}\n\n".encode() for e in events]
    if done:
        pieces.append(b"data: [DONE]\n\n")
    return pieces


class FakeServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._queue: list[Reply] = []
        self.default: Reply | None = None
        # When nothing is queued: a function of the request picks the reply (agent loops, where
        # the next answer depends on what the client sent), before ``default``.
        self.responder: Callable[[Recorded], Reply] | None = None
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def reply(self, *replies: Reply) -> "FakeServer":
        with self._lock:
            self._queue.extend(replies)
        return self

    def _next(self, request: Recorded | None = None) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.pop(0)
        if self.responder is not None and request is not None:
            return self.responder(request)
        if self.default is not None:
            return self.default
        return Reply(500, json={"error": {"message": "fake server: nothing scripted", "type": "api_error"}})

    def start(self) -> "FakeServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                recorded = Recorded(self.command, parts.path, parse_qs(parts.query),
                                    {k.lower(): v for k, v in self.headers.items()}, body)
                server.requests.append(recorded)
                reply = server._next(recorded)
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.stream is not None:
                    if "content-type" not in {k.lower() for k in reply.headers}:
                        self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.close_connection = True
                    for piece in reply.stream:
                        self.wfile.write(piece)
                        self.wfile.flush()
                        if reply.piece_delay:
                            time.sleep(reply.piece_delay)
                    return
                payload = reply.body if reply.body is not None else json.dumps(reply.json).encode()
                if "content-type" not in {k.lower() for k in reply.headers}:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        return Handler
