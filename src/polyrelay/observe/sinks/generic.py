"""``generic_api``: batches of standard logging payloads POSTed as a JSON
list to ``GENERIC_LOGGER_ENDPOINT``, with the headers in
``GENERIC_LOGGER_HEADERS`` ("name=value,name2=value2", LiteLLM's format).
A status of 300 or more is a failed delivery (retried with backoff)."""

from __future__ import annotations

import os

import httpx
import orjson

from . import LoopBoundClient


def parse_headers(text: str | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    for part in (text or "").split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip():
            headers[name.strip()] = value.strip()
    return headers


class GenericAPISink(LoopBoundClient):
    name = "generic_api"
    batch_size, retries, timeout = 100, 3, 15.0

    def __init__(self) -> None:
        self.endpoint = os.environ.get("GENERIC_LOGGER_ENDPOINT")
        if not self.endpoint:
            raise ValueError("callback 'generic_api' needs GENERIC_LOGGER_ENDPOINT set to the URL to POST logs to")
        self.headers = {"content-type": "application/json",
                        **parse_headers(os.environ.get("GENERIC_LOGGER_HEADERS"))}
        self._client: httpx.AsyncClient | None = None  # made on the dispatcher's loop, where it is used

    def wants(self, phase: str) -> bool:
        return phase != "pre"

    async def send(self, batch: list) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        body = orjson.dumps([record.standard_logging_object() for _, record in batch], default=str)
        reply = await self._client.post(self.endpoint, content=body, headers=self.headers)
        if reply.status_code >= 300:
            raise RuntimeError(f"{self.endpoint} answered {reply.status_code}")
