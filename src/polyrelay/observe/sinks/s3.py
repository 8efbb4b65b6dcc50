"""``s3`` (and LiteLLM's newer name ``s3_v2``): one JSON object per call, the
standard logging payload, written to an S3 bucket or an S3-compatible
service (MinIO, R2, ...).

Settings are LiteLLM's ``s3_callback_params`` (``polyrelay.s3_callback_params``
in the SDK, ``litellm_settings.s3_callback_params`` in the gateway), read
when the sink is first made: see polyrelay/s3.py for the connection ones;
besides, ``s3_batch_size`` (records per batch, default 100) and
``s3_flush_interval`` (seconds a batch waits to fill, default 1).

Objects are named as LiteLLM names them:
``{s3_path}/{YYYY-MM-DD}/time-{HH-MM-SS-ffffff}_{call id}.json`` (UTC, the
call's start). S3 has no batch PUT: a batch is written as parallel
PutObjects (at most ``PARALLEL_PUTS`` at once); a batch with a failed PUT is
retried whole, which rewrites the same keys, so nothing is duplicated.
"""

from __future__ import annotations

import asyncio
import datetime
import sys
from typing import Any

import orjson

from ...s3 import PARAMS, S3Client, S3Settings, resolve_env
from . import LoopBoundClient

PARALLEL_PUTS = 16
BATCH_PARAMS = frozenset({"s3_batch_size", "s3_flush_interval"})


def object_name(std: dict[str, Any]) -> str:
    start = datetime.datetime.fromtimestamp(std["startTime"], datetime.timezone.utc)
    return f"{start:%Y-%m-%d}/time-{start:%H-%M-%S-%f}_{std['id']}.json"


def check_params(params: Any, where: str) -> S3Settings:
    if not isinstance(params, dict):
        raise ValueError(f"callback 's3' needs {where} set: a mapping with at least s3_bucket_name")
    unknown = sorted(set(params) - PARAMS - BATCH_PARAMS)
    if unknown:
        raise ValueError(f"{where}: {', '.join(unknown)} not supported by polyrelay's s3 logger; it takes "
                         f"{', '.join(sorted(PARAMS | BATCH_PARAMS))}")
    return S3Settings.from_params({k: v for k, v in params.items() if k in PARAMS}, where)


class S3Sink(LoopBoundClient):
    name = "s3"
    batch_size, retries, timeout = 100, 3, 30.0
    flush_interval = 1.0

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        where = "s3_callback_params"
        if params is None:
            params = getattr(sys.modules.get("polyrelay"), "s3_callback_params", None)
        settings = check_params(params, where)
        self.settings = settings
        self.batch_size = _positive(where, "s3_batch_size", params.get("s3_batch_size"), self.batch_size, int)
        self.flush_interval = _positive(where, "s3_flush_interval", params.get("s3_flush_interval"),
                                        self.flush_interval, float)
        self._client: S3Client | None = None  # made on the dispatcher's loop, where it is used

    def wants(self, phase: str) -> bool:
        return phase != "pre"

    async def send(self, batch: list) -> None:
        if self._client is None:
            self._client = S3Client(self.settings, timeout=self.timeout)
        client, limit = self._client, asyncio.Semaphore(PARALLEL_PUTS)

        async def put(std: dict[str, Any]) -> None:
            async with limit:
                await client.put(self.settings.key(object_name(std)), orjson.dumps(std, default=str))

        results = await asyncio.gather(*(put(record.standard_logging_object()) for _, record in batch),
                                       return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(batch)} PUT(s) failed: {failed[0]}")


def _positive(where: str, name: str, value: Any, default: Any, kind: type) -> Any:
    value = resolve_env(value)
    if value is None:
        return default
    try:
        number = kind(value)
    except (TypeError, ValueError):
        number = 0
    if number <= 0:
        raise ValueError(f"{where}.{name} must be a number above 0, got {value!r}")
    return number
