"""The gateway's response cache (``litellm_settings.cache``): made at
start-up, its hits, misses and failures counted in ``/metrics``.

The LLM route makes two calls into it (routes/llm.py): ``lookup`` after
auth and the request's checks, ``store`` after the answer; a hit skips the
Router and is booked at cost 0.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import Counter

from ..caching import Cache
from ..providers.base import CHAT, EMBEDDING, TEXT

log = logging.getLogger("polyrelay.gateway")

# Router method -> the call type the cache keys on; other routes are not cached.
CACHED_METHODS = {"acompletion": CHAT, "atext_completion": TEXT, "aembedding": EMBEDDING}


async def start_cache(config, metrics, router) -> Cache | None:
    params = config.litellm_settings.get("cache_params")
    if not config.litellm_settings.get("cache") or params is None:
        return None
    cache = Cache(**params)
    if cache.embed is not None:  # semantic: prompts are embedded by a model group of this config
        from ..caching.semantic import router_embedder

        cache.embed = router_embedder(router, cache.embedding_model)
    counter = Counter("polyrelay_cache_events", "Response cache lookups by outcome (hit, miss) and failures "
                      "(error: the cache was bypassed)", ["event"], registry=metrics.registry)
    children = {"hits": counter.labels("hit"), "misses": counter.labels("miss"), "errors": counter.labels("error")}
    cache.observer = lambda event, n: children[event].inc(n)
    try:
        await cache.ping()
        log.info("response cache: %s", describe(cache))
    except Exception as exc:  # a cache that is down is bypassed, never fatal: calls still work
        log.warning("response cache (%s) cannot be reached (%s); calls bypass it until it answers",
                    describe(cache), type(exc).__name__)
    return cache


def describe(cache: Cache) -> str:
    """Type, namespace and mode: never the server's password."""
    parts = [cache.type]
    if cache.namespace:
        parts.append(f"namespace {cache.namespace}")
    parts.append(cache.mode)
    return ", ".join(parts)


def hidden_headers(hidden: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """x-polyrelay-cache-hit and the key (with LiteLLM's header name) for a cached route's answer."""
    key = hidden.get("cache_key")
    if key is None:
        return []
    value = key.encode()
    return [(b"x-polyrelay-cache-hit", b"true" if hidden.get("cache_hit") else b"false"),
            (b"x-polyrelay-cache-key", value), (b"x-litellm-cache-key", value)]
