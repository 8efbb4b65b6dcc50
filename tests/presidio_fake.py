"""A Presidio analyzer + anonymizer on 127.0.0.1, speaking their REST APIs
(``POST /analyze``, ``POST /anonymize``, ``GET /health``) with the shapes of
Presidio's docs. Its "analysis" is two regexes (e-mail, US SSN), enough to
test a client; it records every request for assertions."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RECOGNIZERS = {"EMAIL_ADDRESS": re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+"), "US_SSN": re.compile(r"\d{3}-\d{2}-\d{4}")}


def analyze(body: dict[str, Any]) -> list[dict[str, Any]]:
    wanted = body.get("entities") or list(RECOGNIZERS)
    found = []
    for entity in wanted:
        pattern = RECOGNIZERS.get(entity)
        for m in pattern.finditer(body["text"]) if pattern else ():
            found.append({"entity_type": entity, "start": m.start(), "end": m.end(), "score": 0.85,
                          "analysis_explanation": None,
                          "recognition_metadata": {"recognizer_name": "PatternRecognizer"}})
    return found


def anonymize(body: dict[str, Any]) -> dict[str, Any]:
    text, items = body["text"], []
    operators = body.get("anonymizers") or {}
    for result in sorted(body["analyzer_results"], key=lambda r: r["start"], reverse=True):
        operator = operators.get(result["entity_type"]) or operators.get("DEFAULT") or {"type": "replace"}
        new = operator.get("new_value") or f"<{result['entity_type']}>"
        text = text[:result["start"]] + new + text[result["end"]:]
        items.append({"start": result["start"], "end": result["start"] + len(new),
                      "entity_type": result["entity_type"], "text": new, "operator": operator["type"]})
    return {"text": text, "items": items}


class PresidioFake:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        self.down = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._answer(200, b"Presidio Analyzer service is up" if self.path == "/health" else b"")

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                fake.requests.append((self.path, body))
                if fake.down:
                    return self._answer(500, b'{"error": "down"}')
                handler = {"/analyze": analyze, "/anonymize": anonymize}.get(self.path)
                if handler is None:
                    return self._answer(404, b'{"error": "not found"}')
                self._answer(200, json.dumps(handler(body)).encode())

            def _answer(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "PresidioFake":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
