"""Langfuse through its public ingestion API (``POST {host}/api/public/ingestion``,
basic auth with the public and secret key): a ``trace-create`` and a
``generation-create`` event per call.

We speak the HTTP API rather than load Langfuse's SDK: the SDK brings its own
background threads and queue (we have ours, with the dropped-events metric),
and pins a set of dependencies every gateway would then carry. The API is
documented and stable (the SDKs are built on it).

Request metadata maps as in LiteLLM's Langfuse docs: ``generation_name``,
``generation_id``, ``trace_id`` / ``existing_trace_id`` (the trace is then
not created again), ``trace_name``, ``trace_user_id``, ``session_id``,
``tags``, ``trace_metadata``. A failed call is a generation with
``level: ERROR`` and the error as ``statusMessage``.
"""

from __future__ import annotations

import base64
import math
import os
import random
import time
from typing import Any

import httpx
import orjson

from . import LoopBoundClient

DEFAULT_HOST = "https://cloud.langfuse.com"
# "Batch sizes are limited to 3.5 MB in total" (Langfuse API reference, POST /api/public/ingestion):
# a batch of records is sent in as many requests as keep each body under it.
MAX_BODY_BYTES = 3_500_000


_second: tuple[int, str] = (-1, "")  # the last whole second formatted: a call's timestamps share it


def iso(epoch: float | None) -> str | None:
    """UTC ISO 8601 with microseconds and a Z (datetime's own formatting cost 9% of the sink process)."""
    if epoch is None:
        return None
    global _second
    second, cached = math.floor(epoch), _second
    if cached[0] != second:
        cached = _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return "%s.%06dZ" % (cached[1], (epoch - second) * 1e6)


class LangfuseSink(LoopBoundClient):
    name = "langfuse"
    # 200 records a request (each post costs the sink process ~1 ms of CPU in httpx); the
    # byte limit above splits a batch of large prompts into several requests.
    batch_size, retries, timeout = 200, 3, 15.0

    def __init__(self) -> None:
        public, secret = os.environ.get("LANGFUSE_PUBLIC_KEY"), os.environ.get("LANGFUSE_SECRET_KEY")
        if not (public and secret):
            raise ValueError("callback 'langfuse' needs LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY set")
        host = os.environ.get("LANGFUSE_HOST") or os.environ.get("LANGFUSE_BASE_URL") or DEFAULT_HOST
        if "://" not in host:
            host = "http://" + host
        self.url = host.rstrip("/") + "/api/public/ingestion"
        token = base64.b64encode(f"{public}:{secret}".encode()).decode()
        self.headers = {"authorization": f"Basic {token}", "content-type": "application/json"}
        self._client: httpx.AsyncClient | None = None

    def wants(self, phase: str) -> bool:
        return phase != "pre"

    async def send(self, batch: list) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        events = [orjson.dumps(event, default=str) for _, record in batch
                  for event in events_for(record.standard_logging_object())]
        for body in bodies(events, MAX_BODY_BYTES):
            reply = await self._client.post(self.url, content=body, headers=self.headers)
            # 207: per-event results; an event Langfuse refused is its verdict, not worth a retry.
            # A retry of the whole batch re-sends what went through: Langfuse upserts by body id.
            if reply.status_code >= 300 and reply.status_code != 207:
                raise RuntimeError(f"Langfuse answered {reply.status_code}")


def bodies(events: list[bytes], limit: int) -> list[bytes]:
    """``{"batch": [...]}`` bodies of the encoded events, each under ``limit`` bytes
    (an event larger than that alone goes in a body of its own: Langfuse's verdict on it)."""
    out: list[bytes] = []
    part: list[bytes] = []
    size = 0
    for event in events:
        if part and size + len(event) + 1 > limit - 12:  # 12: the envelope's bytes
            out.append(b'{"batch":[' + b",".join(part) + b"]}")
            part, size = [], 0
        part.append(event)
        size += len(event) + 1
    if part:
        out.append(b'{"batch":[' + b",".join(part) + b"]}")
    return out


def events_for(std: dict[str, Any]) -> list[dict[str, Any]]:
    meta = std.get("metadata") or {}
    requested = meta.get("requester_metadata") or {}
    now = iso(std["endTime"])
    existing = requested.get("existing_trace_id")
    trace_id = existing or requested.get("trace_id") or std["id"]
    events = []
    failed = std["status"] == "failure"
    output = None if failed else _output(std.get("response"))
    if not existing:
        trace_metadata = requested.get("trace_metadata") if isinstance(requested.get("trace_metadata"), dict) else {}
        events.append({"id": _event_id(), "type": "trace-create", "timestamp": now, "body": {
            "id": trace_id,
            "timestamp": iso(std["startTime"]),
            "name": requested.get("trace_name") or requested.get("generation_name") or std["call_type"],
            "userId": requested.get("trace_user_id") or std.get("end_user") or None,
            "sessionId": requested.get("session_id"),
            "tags": list(requested.get("tags") or []),
            "input": std.get("messages"),
            "output": output,
            "metadata": {**trace_metadata, **{k: meta.get(k) for k in ("user_api_key_alias", "user_api_key_team_id")
                                              if meta.get(k)}},
        }})
    usage = {"input": std["prompt_tokens"], "output": std["completion_tokens"], "total": std["total_tokens"],
             "unit": "TOKENS"}
    generation = {
        "id": requested.get("generation_id") or f"time-{std['id']}",
        "traceId": trace_id,
        "name": requested.get("generation_name") or f"polyrelay-{std['call_type']}",
        "startTime": iso(std["startTime"]),
        "endTime": iso(std["endTime"]),
        "completionStartTime": iso(std.get("completionStartTime")),
        "model": std.get("model"),
        "modelParameters": {k: v for k, v in (std.get("model_parameters") or {}).items()
                            if isinstance(v, (str, int, float, bool))},
        "input": std.get("messages"),
        "output": output,
        "usage": usage,
        "usageDetails": {"input": std["prompt_tokens"], "output": std["completion_tokens"],
                         "total": std["total_tokens"], "cache_read_input_tokens": std.get("cached_tokens") or 0},
        "costDetails": {"total": std.get("response_cost") or 0.0},
        "metadata": {k: v for k, v in {
            "model_group": std.get("model_group"), "model_id": std.get("model_id"), "api_base": std.get("api_base"),
            "cache_hit": std.get("cache_hit"), "custom_llm_provider": std.get("custom_llm_provider"),
            "user_api_key_hash": meta.get("user_api_key_hash"), "user_api_key_alias": meta.get("user_api_key_alias"),
            "user_api_key_team_id": meta.get("user_api_key_team_id"),
            "user_api_key_user_id": meta.get("user_api_key_user_id")}.items() if v is not None},
        "level": "ERROR" if failed else "DEFAULT",
    }
    if failed:
        generation["statusMessage"] = std.get("error_str")
    events.append({"id": _event_id(), "type": "generation-create", "timestamp": now, "body": generation})
    return events


def _event_id() -> str:
    """A random UUID (version 4) string, without uuid.uuid4's object: two per call."""
    h = "%032x" % (random.getrandbits(128) & ~(0xF << 76) & ~(0x3 << 62) | (0x4 << 76) | (0x2 << 62))
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _output(response: Any) -> Any:
    if not isinstance(response, dict):
        return response
    choices = response.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0].get("message") or {"content": choices[0].get("text")}
    return response
