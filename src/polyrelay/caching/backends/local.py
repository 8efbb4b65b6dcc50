"""In-process backend: a dict with expiry and a size bound (oldest out first)."""

from __future__ import annotations

import time
from collections import OrderedDict


class LocalBackend:
    name = "local"

    def __init__(self, max_size: int = 1000) -> None:
        self.max_size = max_size
        self._entries: OrderedDict[str, tuple[float | None, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if expires is not None and expires <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)  # recently used: last to go
        return value

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        expires = time.monotonic() + ttl if ttl is not None else None
        self._entries[key] = (expires, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    async def delete(self, keys: list[str]) -> int:
        return sum(self._entries.pop(k, None) is not None for k in keys)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()
