"""Response caching (SPEC section 7): ``Cache`` and the two calls a
pipeline makes around a model call, ``lookup`` and ``store``.

- key.py: what goes in a key (documented there, and in docs/caching.md);
- controls.py: the per-request ``cache={...}`` controls;
- cache.py: the facade (LiteLLM's constructor), bypass on failure;
- replay.py: stored answers back as responses or streams;
- backends/: local, redis, disk.
"""

from __future__ import annotations

from typing import Any

from .cache import Cache, Lookup
from .key import cache_key

__all__ = ["Cache", "Lookup", "cache_key", "disable_cache", "enable_cache", "through", "update_cache"]


async def through(cache: Cache, kind: str, model: str, payload: dict[str, Any], kwargs: dict[str, Any], run):
    """An SDK call with the cache around it: ``run(kind, model, payload, kwargs)``
    makes the call when the cache does not answer it."""
    found = await cache.lookup(kind, model, payload, kwargs, wire=bool(kwargs.get("polyrelay_wire")))
    if found is None:
        return await run(kind, model, payload, kwargs)
    if found.answer is not None:
        return found.answer
    return await cache.store(found, await run(kind, model, found.payload, kwargs))


def enable_cache(type: str = "local", **params: Any) -> Cache:
    """LiteLLM's ``enable_cache``: ``polyrelay.cache = Cache(type, **params)``."""
    import polyrelay

    polyrelay.cache = Cache(type=type, **params)
    return polyrelay.cache


def update_cache(type: str = "local", **params: Any) -> Cache:
    """LiteLLM's ``update_cache``: replace the cache with a new one."""
    return enable_cache(type, **params)


def disable_cache() -> None:
    import polyrelay

    polyrelay.cache = None
