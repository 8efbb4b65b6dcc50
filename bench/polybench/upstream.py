"""The mock OpenAI upstream and the reference nginx hop.

nginx cannot branch on a JSON body, so the two kinds of answer live on two
ports: one answers every ``POST /v1/chat/completions`` with a fixed
``chat.completion`` JSON, the other with a fixed SSE stream (role chunk,
content chunks, finish chunk, the ``include_usage`` chunk, ``data: [DONE]``).
Gateways route to them by model group: ``bench-json`` -> the JSON port,
``bench-stream`` -> the SSE port. The hop is a second nginx that proxies
each of its two ports to the matching upstream port over kept-alive
connections (unbuffered for the stream), the usual "nginx in front" setup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MODEL = "gpt-4o-mini"  # a catalogue model, so gateways price the answer as they would in production
CREATED = 1_700_000_000
CONTENT_PIECES = ["Hello", "!", " How", " can", " I", " help", " you", " today", "?"]
USAGE = {"prompt_tokens": 14, "completion_tokens": 9, "total_tokens": 23,
         "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
         "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                       "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}


def _dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


def json_body() -> str:
    return _dumps({
        "id": "chatcmpl-bench0001", "object": "chat.completion", "created": CREATED, "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(CONTENT_PIECES),
                                             "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": USAGE, "system_fingerprint": "fp_bench",
    })


def sse_body() -> str:
    def chunk(choices, usage=None):
        return "data: " + _dumps({"id": "chatcmpl-bench0002", "object": "chat.completion.chunk",
                                  "created": CREATED, "model": MODEL, "system_fingerprint": "fp_bench",
                                  "choices": choices, "usage": usage}) + "\n\n"

    events = [chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                      "finish_reason": None}])]
    events += [chunk([{"index": 0, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}])
               for piece in CONTENT_PIECES]
    events.append(chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]))
    events.append(chunk([], USAGE))
    events.append("data: [DONE]\n\n")
    return "".join(events)


def _nginx_string(text: str) -> str:
    """A single-quoted nginx config string; nginx unescapes \\n, \\\\ and \\'."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


@dataclass(frozen=True)
class Ports:
    """Fixed by default (``--base-port``) so a gateway the user starts
    elsewhere can be configured against the bench upstream in advance."""

    base: int

    @property
    def upstream_json(self) -> int:
        return self.base + 1

    @property
    def upstream_stream(self) -> int:
        return self.base + 2

    @property
    def sinks(self) -> int:
        """Logging sinks for the callbacks scenario (Langfuse ingestion, OTLP/HTTP): 200 to any POST."""
        return self.base + 3

    @property
    def hop_json(self) -> int:
        return self.base + 11

    @property
    def hop_stream(self) -> int:
        return self.base + 12

    @property
    def polyrelay(self) -> int:
        return self.base + 20

    @property
    def polyrelay_cache_local(self) -> int:
        return self.base + 23

    @property
    def polyrelay_cache_redis(self) -> int:
        return self.base + 24

    @property
    def polyrelay_callbacks(self) -> int:
        return self.base + 25

    @property
    def redis(self) -> int:
        return self.base + 31

    @property
    def polyrelay_keys(self) -> int:
        return self.base + 21

    @property
    def polyrelay_keys_pg(self) -> int:
        return self.base + 22

    @property
    def postgres(self) -> int:
        return self.base + 30


def _main_block(workdir: str, name: str, workers: int, run_as_root: bool) -> str:
    # As root nginx would switch its workers to "nobody", who cannot enter the
    # private work directory: keep them as the invoking user instead.
    user = "user root;\n" if run_as_root else ""
    return f"""{user}daemon off;
master_process on;
worker_processes {workers};
pid {workdir}/{name}.pid;
error_log {workdir}/{name}-error.log warn;
events {{ worker_connections 8192; multi_accept on; }}
"""


def _http_common(workdir: str, name: str) -> str:
    temps = "\n".join(f"    {kind}_temp_path {workdir}/{name}-{kind}-temp;"
                      for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""    access_log off;
    server_tokens off;
{temps}
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    client_body_buffer_size 64k;
    tcp_nodelay on;
"""


def upstream_conf(workdir: str, ports: Ports, workers: int = 1, run_as_root: bool = False) -> str:
    def server(port: int, content_type: str, body: str) -> str:
        return f"""    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            default_type {content_type};
            return 200 {_nginx_string(body)};
        }}
    }}
"""
    return (_main_block(workdir, "upstream", workers, run_as_root) + "http {\n" + _http_common(workdir, "upstream")
            + server(ports.upstream_json, "application/json", json_body())
            + server(ports.upstream_stream, "text/event-stream", sse_body())
            + server(ports.sinks, "application/json", "{}") + "}\n")


def hop_conf(workdir: str, ports: Ports, workers: int = 1, run_as_root: bool = False) -> str:
    def server(port: int, upstream: str, stream: bool) -> str:
        buffering = "proxy_buffering off;" if stream else "proxy_buffering on;"
        return f"""    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            {buffering}
        }}
    }}
"""
    upstreams = "".join(f"""    upstream {name} {{
        server 127.0.0.1:{port};
        keepalive 256;
        keepalive_requests 10000000;
    }}
""" for name, port in (("up_json", ports.upstream_json), ("up_stream", ports.upstream_stream)))
    return (_main_block(workdir, "hop", workers, run_as_root) + "http {\n" + _http_common(workdir, "hop") + upstreams
            + server(ports.hop_json, "up_json", False) + server(ports.hop_stream, "up_stream", True) + "}\n")


def pass_through_conf(workdir: str, listen_port: int, upstream_port: int, run_as_root: bool = False) -> str:
    """One nginx worker relaying a streaming upstream unbuffered: a relay that
    parses nothing, i.e. what the kernel and one event loop cost per chunk."""
    return (_main_block(workdir, "pass", 1, run_as_root) + "http {\n" + _http_common(workdir, "pass")
            + f"""    upstream slow_up {{
        server 127.0.0.1:{upstream_port};
        keepalive 1024;
    }}
    server {{
        listen 127.0.0.1:{listen_port} backlog=4096;
        location / {{
            proxy_pass http://slow_up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 300s;
        }}
    }}
}}
""")


def gateway_config(ports: Ports, api_key: str = "sk-bench-upstream", master_key: str | None = None,
                   database_url: str | None = None, cache_params: dict | None = None,
                   callbacks: list[str] | None = None) -> str:
    """A LiteLLM-format config.yaml: the same file runs under polyrelay and
    under LiteLLM's proxy. Prices come from the catalogue entry of MODEL."""
    lines = ["model_list:"]
    for group, port in (("bench-json", ports.upstream_json), ("bench-stream", ports.upstream_stream)):
        lines += [f"  - model_name: {group}",
                  "    litellm_params:",
                  f"      model: openai/{MODEL}",
                  f"      api_base: http://127.0.0.1:{port}/v1",
                  f"      api_key: {api_key}"]
    if master_key or database_url:
        lines.append("general_settings:")
        if master_key:
            lines.append(f"  master_key: {master_key}")
        if database_url:
            lines.append(f"  database_url: {json.dumps(database_url)}")
    if cache_params is not None or callbacks:
        lines.append("litellm_settings:")
    if cache_params is not None:
        lines += ["  cache: true", f"  cache_params: {json.dumps(cache_params)}"]
    if callbacks:
        lines.append(f"  callbacks: {json.dumps(callbacks)}")
    return "\n".join(lines) + "\n"
