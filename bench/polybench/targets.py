"""What the load is sent to: one Target per row group of the table.

``direct`` and ``nginx-hop`` have one URL per kind (nginx answers by port);
gateways have one URL and pick the upstream by model group.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from dataclasses import dataclass, field

from . import wrk

KINDS = ("chat", "stream")
MODELS = {"chat": "bench-json", "stream": "bench-stream"}


@dataclass
class Target:
    name: str
    role: str  # "reference" | "gateway"
    urls: dict[str, str]  # kind -> full chat-completions URL
    headers: dict[str, str] = field(default_factory=dict)
    roots: list[int] = field(default_factory=list)  # pids whose process trees are measured (empty: unknown)
    scenario: str = "plain"
    models: dict[str, str] = field(default_factory=lambda: dict(MODELS))
    upstreams: dict[str, str] = field(default_factory=dict)  # kind -> the bench upstream's base URL
    half_new: bool = False  # every other request a prompt never seen: 50% cache hits

    def script(self, kind: str) -> str:
        if self.half_new:
            return wrk.half_new_script(self.body(kind), self.headers_for(kind))
        return wrk.post_script(self.body(kind), self.headers_for(kind))

    def body(self, kind: str) -> dict:
        return wrk.request_body(self.models[kind], stream=(kind == "stream"))

    def headers_for(self, kind: str) -> dict[str, str]:
        """The headers, with ``{upstream}`` in a value replaced by the bench
        upstream's base URL for this kind (for gateways routed by header,
        e.g. Portkey's ``x-portkey-custom-host``)."""
        base = self.upstreams.get(kind, "")
        return {k: v.replace("{upstream}", base) for k, v in self.headers.items()}

    def describe(self) -> dict:
        return {"name": self.name, "role": self.role, "scenario": self.scenario, "urls": self.urls,
                "models": self.models, "measured_pids": self.roots,
                "headers": sorted(self.headers)}  # names only: values may be keys


def chat_url(base: str) -> str:
    """``http://host:port``, ``.../v1`` or a full ``.../chat/completions`` URL
    -> the chat-completions URL."""
    base = base.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if base.endswith("/v1"):
        return base + "/chat/completions"
    return base + "/v1/chat/completions"


def parse_target_arg(text: str) -> tuple[str, str]:
    """``name=URL`` from ``--target``."""
    name, sep, url = text.partition("=")
    name, url = name.strip(), url.strip()
    if not sep or not name or not url:
        raise ValueError(f"--target wants name=URL, got {text!r}")
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "http" or not parsed.hostname:
        raise ValueError(f"--target {name}: want an http:// URL, got {url!r}")
    if parsed.hostname not in ("127.0.0.1", "localhost", "::1") and not parsed.hostname.startswith("127."):
        raise ValueError(f"--target {name}: the bench sends load to loopback addresses only, not {parsed.hostname!r}")
    return name, url


def url_port(url: str) -> int:
    parsed = urllib.parse.urlsplit(url)
    return parsed.port or 80


def post(url: str, body: dict, headers: dict[str, str] | None = None, timeout: float = 30.0) -> tuple[int, bytes]:
    parsed = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port or 80, timeout=timeout)
    try:
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        conn.request("POST", path, body=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def check_answer(kind: str, status: int, data: bytes, strict: bool = True) -> str | None:
    """None if this is a good answer to the bench request, else why not.
    Run once per target and kind before loading it: wrk counts only
    statuses, so a 200 with the wrong body would pass unnoticed.
    ``strict``: the include_usage chunk must have ``choices: []`` as OpenAI
    sends it (polyrelay's contract); not strict, any chunk carrying the
    usage will do (LiteLLM puts it on a chunk with an empty delta)."""
    text = data.decode("utf-8", "replace")
    if status != 200:
        return f"HTTP {status}: {text[:300]}"
    if kind == "chat":
        try:
            answer = json.loads(text)
            content = answer["choices"][0]["message"]["content"]
            answer["usage"]["total_tokens"]
        except (ValueError, KeyError, IndexError, TypeError):
            return f"not a chat.completion: {text[:300]}"
        return None if content else "empty answer"
    events = [line[len("data:"):].strip() for line in text.splitlines() if line.startswith("data:")]
    if not events or events[-1] != "[DONE]":
        return f"stream does not end with data: [DONE]: {text[-300:]}"
    usage_chunks = 0
    for event in events[:-1]:
        try:
            chunk = json.loads(event)
        except ValueError:
            return f"bad SSE event: {event[:200]}"
        if "error" in chunk:
            return f"error event in the stream: {event[:300]}"
        if chunk.get("usage") and (chunk.get("choices") == [] or not strict):
            usage_chunks += 1
    if usage_chunks != 1:
        want = "(choices [] and usage)" if strict else "(with usage)"
        return f"want one include_usage chunk {want}, got {usage_chunks}"
    return None


def parse_target_headers(texts: list[str], prog: str) -> dict[str, dict[str, str]]:
    """``--target-header NAME=Header: value`` options -> {target name: {header: value}}."""
    headers: dict[str, dict[str, str]] = {}
    for text in texts:
        name, sep, header = text.partition("=")
        hname, hsep, value = header.partition(":")
        if not sep or not hsep or not hname.strip():
            raise SystemExit(f"{prog}: --target-header wants 'NAME=Header: value', got {text!r}")
        headers.setdefault(name.strip(), {})[hname.strip()] = value.strip()
    return headers
