"""S3 backend: entries as objects in a bucket (AWS, or an S3-compatible
service such as MinIO), shared by every instance pointing at it. Signed
requests through polyrelay/s3.py (botocore's SigV4, as for Bedrock).

S3 has no per-object expiry, so an entry's end of life is kept in its user
metadata (``x-amz-meta-polyrelay-expires``, epoch seconds) and checked on
read: an expired entry is a miss (and is deleted, off the call's path).
Add a lifecycle rule on the bucket (or ``s3_path``) to reclaim the space of
entries nobody reads again.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ...s3 import S3Client, S3Settings

EXPIRES = "polyrelay-expires"


class S3Backend:
    name = "s3"

    def __init__(self, **params: Any) -> None:
        self.settings = S3Settings.from_params(params, "cache_params")
        self._client = S3Client(self.settings, timeout=10.0)
        self._reaping: set[asyncio.Task] = set()

    async def get(self, key: str) -> bytes | None:
        found = await self._client.get(self.settings.key(key))
        if found is None:
            return None
        body, metadata = found
        expires = metadata.get(EXPIRES)
        try:
            expired = expires is not None and float(expires) <= time.time()
        except ValueError:
            expired = True  # not ours to read: a miss, like any entry that cannot be read
        if expired:
            task = asyncio.get_running_loop().create_task(self._reap(key))
            self._reaping.add(task)
            task.add_done_callback(self._reaping.discard)
            return None
        return body

    async def _reap(self, key: str) -> None:
        try:
            await self.delete([key])
        except Exception:  # the next read finds it expired again; nothing is lost
            pass

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        metadata = {EXPIRES: f"{time.time() + ttl:.3f}"} if ttl is not None else None
        await self._client.put(self.settings.key(key), value, metadata=metadata)

    async def delete(self, keys: list[str]) -> int:
        found = await asyncio.gather(*(self._client.delete(self.settings.key(k)) for k in keys))
        return sum(found)

    async def ping(self) -> None:
        await self._client.ping()

    async def close(self) -> None:
        for task in list(self._reaping):
            task.cancel()
        await self._client.close()
