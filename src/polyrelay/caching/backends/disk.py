"""Disk backend for one machine: ``diskcache`` (SQLite plus files), safe
across the processes of one host. Its calls block, so they run in a thread."""

from __future__ import annotations

import asyncio


def check_available() -> None:
    try:
        import diskcache  # noqa: F401
    except ImportError as exc:
        raise ValueError("cache type 'disk' needs the diskcache package: pip install 'polyrelay[caching]'") from exc


class DiskBackend:
    name = "disk"

    def __init__(self, directory: str | None = None) -> None:
        import diskcache  # the ``caching`` extra; checked when the Cache was made
        self.directory = directory or ".polyrelay_cache"
        self._cache = diskcache.Cache(self.directory)

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._cache.get, key)

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        await asyncio.to_thread(self._cache.set, key, value, ttl)

    async def delete(self, keys: list[str]) -> int:
        return sum(await asyncio.gather(*(asyncio.to_thread(self._cache.delete, k) for k in keys)))

    async def ping(self) -> None:
        await asyncio.to_thread(self._cache.get, "polyrelay:ping")

    async def close(self) -> None:
        self._cache.close()
