"""Redis backend: shared by every process that points at the same server."""

from __future__ import annotations

from typing import Any


class RedisBackend:
    name = "redis"

    def __init__(self, *, host: str | None = None, port: int | None = None, password: str | None = None,
                 url: str | None = None, **options: Any) -> None:
        import redis.asyncio as aioredis  # the ``redis`` extra

        # Connection attempts fail fast: a cache that is down must not hold up calls.
        options.setdefault("socket_connect_timeout", 1.0)
        options.setdefault("socket_timeout", 1.0)
        if url:
            self._client = aioredis.from_url(url, **options)
        else:
            self._client = aioredis.Redis(host=host or "localhost", port=int(port or 6379), password=password,
                                          **options)

    async def get(self, key: str) -> bytes | None:
        return await self._client.get(key)

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        if ttl is not None:
            await self._client.set(key, value, px=max(1, int(ttl * 1000)))
        else:
            await self._client.set(key, value)

    async def delete(self, keys: list[str]) -> int:
        return int(await self._client.delete(*keys)) if keys else 0

    async def ping(self) -> None:
        await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()
