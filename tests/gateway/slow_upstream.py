"""An OpenAI-protocol upstream that streams slowly and notices when the
client (the gateway) hangs up: for checking that a client disconnecting
from the gateway cancels the request upstream."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SlowUpstream:
    def __init__(self, chunks: int = 400, interval: float = 0.05) -> None:
        self.chunks = chunks
        self.interval = interval
        self.started = threading.Event()  # a stream began
        self.closed = threading.Event()  # the peer hung up before the stream ended
        self.finished = threading.Event()  # the stream ran to its end
        self.sent = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "SlowUpstream":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self):
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _peer_closed(self) -> bool:
                readable, _, _ = select.select([self.connection], [], [], 0)
                if not readable:
                    return False
                try:
                    return self.connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    return True

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                upstream.started.set()
                try:
                    for i in range(upstream.chunks):
                        chunk = {"id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": 1,
                                 "model": "slow", "choices": [{"index": 0, "delta": {"content": f"t{i} "},
                                                               "finish_reason": None}]}
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                        upstream.sent = i + 1
                        if self._peer_closed():
                            upstream.closed.set()
                            return
                        time.sleep(upstream.interval)
                    end = {"id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": 1, "model": "slow",
                           "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                    self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
                    self.wfile.flush()
                    upstream.finished.set()
                except OSError:
                    upstream.closed.set()

        return Handler
