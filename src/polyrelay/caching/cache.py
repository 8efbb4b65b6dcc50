"""``Cache``: LiteLLM's constructor, our backends, and the two calls a
pipeline makes around the model call: ``lookup`` before, ``store`` after.

A backend that fails or is slow (more than ``backend_timeout`` seconds) is
bypassed: the call goes to the provider as if the cache were empty, a
warning is logged (at most once a minute) and the ``errors`` counter
grows. An entry that cannot be read is a miss, never an error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import orjson

from ..providers.base import CHAT, EMBEDDING, TEXT
from . import replay
from .controls import Controls, read_controls
from .key import cache_key

log = logging.getLogger("polyrelay.cache")

# LiteLLM's call-type names for what polyrelay caches.
CALL_TYPES = {
    "completion": CHAT, "acompletion": CHAT,
    "text_completion": TEXT, "atext_completion": TEXT,
    "embedding": EMBEDDING, "aembedding": EMBEDDING,
}
# LiteLLM caches these too; polyrelay does not (yet): naming one is refused, not ignored.
NOT_CACHED_CALL_TYPES = frozenset({"transcription", "atranscription", "rerank", "arerank", "responses",
                                   "aresponses", "speech", "aspeech", "image_generation", "aimage_generation",
                                   "moderation", "amoderation", "anthropic_messages"})
SEMANTIC = "qdrant-semantic"
TYPES = ("local", "redis", "disk", "s3", SEMANTIC)
LATER_TYPES = {"redis-semantic": "the Redis semantic cache (use qdrant-semantic)",
               "azure-blob": "the Azure Blob cache", "gcs": "the GCS cache"}
MODES = ("default_on", "default_off")
# Options the redis client takes, passed through as LiteLLM passes its **kwargs.
REDIS_OPTIONS = frozenset({"db", "username", "ssl", "ssl_cert_reqs", "ssl_ca_certs", "socket_timeout",
                           "socket_connect_timeout", "max_connections", "health_check_interval"})
WARN_EVERY_SECONDS = 60.0
FRONT_TTL_SECONDS = 5.0


@dataclass(slots=True)
class Lookup:
    """What ``lookup`` found: ``answer`` on a hit; otherwise the keys to store
    under and the payload to send (for embeddings, only the missing items)."""

    kind: str
    key: str
    controls: Controls
    ttl: float | None
    payload: dict[str, Any]
    answer: Any = None
    items: list[Any] | None = None  # embeddings: one stored vector (or None) per input item
    item_keys: list[str] = field(default_factory=list)
    single_input: bool = False
    vector: list[float] | None = None  # semantic: the prompt's embedding, and the scope it answers
    scope: str | None = None


class Cache:
    def __init__(self, type: str = "local", mode: str = "default_on", host: str | None = None,
                 port: int | str | None = None, password: str | None = None, namespace: str | None = None,
                 ttl: float | None = None, default_in_memory_ttl: float | None = None,
                 default_in_redis_ttl: float | None = None, supported_call_types: list[str] | None = None,
                 redis_url: str | None = None, disk_cache_dir: str | None = None,
                 max_size_in_memory: int | None = None, similarity_threshold: float | None = None,
                 qdrant_semantic_cache_embedding_model: str | None = None, qdrant_api_base: str | None = None,
                 qdrant_api_key: str | None = None, qdrant_collection_name: str | None = None,
                 qdrant_path: str | None = None, backend_timeout: float = 1.0, **kwargs: Any) -> None:
        type = getattr(type, "value", type)  # LiteLLM's LiteLLMCacheType enum, or its string
        mode = getattr(mode, "value", mode)
        if type in LATER_TYPES:
            raise ValueError(f"cache type {type!r} ({LATER_TYPES[type]}) is not available in this polyrelay "
                             f"version; use one of {', '.join(TYPES)}.")
        if type not in TYPES:
            raise ValueError(f"cache type {type!r} is not one polyrelay knows; use one of {', '.join(TYPES)}.")
        if mode not in MODES:
            raise ValueError(f"cache mode {mode!r} is not one of {', '.join(MODES)}.")
        from ..s3 import PARAMS as S3_PARAMS

        unknown = [k for k in kwargs if not (type == "redis" and k in REDIS_OPTIONS)
                   and not (type == "s3" and k in S3_PARAMS)]
        if unknown:
            raise ValueError(f"cache option(s) {', '.join(sorted(unknown))} are not ones polyrelay knows "
                             f"for type {type!r}.")
        semantic_args = {"similarity_threshold": similarity_threshold, "qdrant_api_base": qdrant_api_base,
                         "qdrant_semantic_cache_embedding_model": qdrant_semantic_cache_embedding_model,
                         "qdrant_api_key": qdrant_api_key, "qdrant_collection_name": qdrant_collection_name,
                         "qdrant_path": qdrant_path}
        if type != SEMANTIC and any(v is not None for v in semantic_args.values()):
            given = sorted(k for k, v in semantic_args.items() if v is not None)
            raise ValueError(f"{', '.join(given)} apply to type {SEMANTIC!r} only, not {type!r}.")
        self.type, self.mode, self.namespace = type, mode, namespace
        self.kinds = _kinds(supported_call_types)
        self.embed: Any = None
        if type == SEMANTIC:
            self._check_semantic(similarity_threshold, qdrant_semantic_cache_embedding_model)
            from .semantic import sdk_embedder

            self.similarity_threshold = float(similarity_threshold)
            self.embedding_model = qdrant_semantic_cache_embedding_model
            self.embed = sdk_embedder(qdrant_semantic_cache_embedding_model)  # the gateway uses its Router
        self.supported_call_types = list(supported_call_types or CALL_TYPES)
        per_type_ttl = {"local": default_in_memory_ttl, "redis": default_in_redis_ttl}.get(type)
        self.ttl = _positive("ttl", ttl if ttl is not None else per_type_ttl)
        # A shared cache (redis, disk) keeps what it read or wrote in this process
        # too, for a short while (LiteLLM's dual cache): a hot entry then costs no
        # round trip. The price: an entry deleted elsewhere may be served here for
        # up to this long.
        self.front_ttl = None if type == "local" else _positive(
            "default_in_memory_ttl", default_in_memory_ttl if default_in_memory_ttl is not None
            else FRONT_TTL_SECONDS)
        self._front = None
        if self.front_ttl is not None:
            from .backends.local import LocalBackend

            self._front = LocalBackend(int(max_size_in_memory or 1000))
        self.backend_timeout = backend_timeout
        self.counters = {"hits": 0, "misses": 0, "errors": 0}
        self.observer: Callable[[str], None] | None = None  # the gateway counts events in its metrics
        self._warned_at = 0.0
        if type == "disk":
            from .backends.disk import check_available

            check_available()
        if type == "s3":
            from ..s3 import S3Client, S3Settings

            S3Client(S3Settings.from_params(kwargs, "cache_params"))  # settings and botocore checked now
        if type == SEMANTIC:
            try:
                import qdrant_client  # noqa: F401
            except ImportError as exc:
                raise ValueError("cache type 'qdrant-semantic' needs qdrant-client: "
                                 "pip install 'polyrelay[semantic]'") from exc
        # Made on first use: building a Cache (to check a config) touches no server or file.
        self._backend_args = {"local": {"max_size": int(max_size_in_memory or 1000)},
                              "redis": {"host": host, "port": port, "password": password, "url": redis_url, **kwargs},
                              "disk": {"directory": disk_cache_dir}, "s3": kwargs,
                              SEMANTIC: {"api_base": qdrant_api_base, "api_key": qdrant_api_key,
                                         "collection": qdrant_collection_name or "polyrelay_semantic_cache",
                                         "path": qdrant_path}}[type]
        self._backend: Any = None

    @property
    def backend(self) -> Any:
        if self._backend is None:
            if self.type == "local":
                from .backends.local import LocalBackend as make
            elif self.type == "redis":
                from .backends.redis import RedisBackend as make
            elif self.type == SEMANTIC:
                from .backends.qdrant import QdrantIndex as make
            elif self.type == "s3":
                from .backends.s3 import S3Backend as make
            else:
                from .backends.disk import DiskBackend as make
            self._backend = make(**self._backend_args)
        return self._backend

    # --- the two calls around a model call ---------------------------------

    def controls_for(self, kind: str, kwargs: dict[str, Any]) -> Controls | None:
        """The request's controls, or None when the cache is not used for it."""
        if kind not in self.kinds:
            return None
        controls = read_controls(kwargs)
        caching = kwargs.get("caching")
        if caching is False or controls.use_cache is False:
            return None
        if self.mode == "default_off" and not (caching is True or controls.use_cache):
            return None
        return controls

    async def lookup(self, kind: str, model: str, payload: dict[str, Any], kwargs: dict[str, Any],
                     wire: bool = False) -> Lookup | None:
        """None when the cache is not used for this call; else a Lookup with
        ``answer`` set on a hit (a response, or a stream when one was asked for)."""
        controls = self.controls_for(kind, kwargs)
        if controls is None:
            return None
        namespace = controls.namespace or self.namespace
        ttl = controls.ttl if controls.ttl is not None else self.ttl
        if self.type == SEMANTIC:
            return await self._lookup_semantic(kind, model, payload, kwargs, controls, namespace, ttl, wire)
        if kind == EMBEDDING:
            return await self._lookup_items(model, payload, kwargs, controls, namespace, ttl, wire)
        key = cache_key(kind, model, payload, kwargs, namespace)
        found = Lookup(kind, key, controls, ttl, payload)
        if controls.no_cache:
            return found
        stored = await self._read(key, controls.s_maxage)
        if stored is None:
            self._count("misses")
            return found
        self._count("hits")
        found.answer = replay.answer(kind, stored, key, kwargs, wire)
        return found

    async def store(self, found: Lookup, result: Any) -> Any:
        """Keep the provider's answer (unless ``no-store``); returns what the
        caller gets: ``result``, or for embeddings the stored and new items merged."""
        if found.kind == EMBEDDING:
            return await self._store_items(found, result)
        hidden = getattr(result, "_hidden_params", None)
        if hidden is not None:
            hidden["cache_key"] = found.key
            hidden.setdefault("cache_hit", False)
        if found.controls.no_store:
            return result
        write = self._write_semantic if self.type == SEMANTIC else self._write_exact
        if replay.is_stream(result):
            return replay.RecordingStream(result, found.kind, lambda data: write(found, data))
        await write(found, replay.storable(result))
        return result

    async def _write_exact(self, found: Lookup, data: dict[str, Any]) -> None:
        await self._write(found.key, data, found.ttl)

    # --- semantic ------------------------------------------------------------

    def _check_semantic(self, threshold: Any, model: Any) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
            raise ValueError(f"similarity_threshold must be a number above 0 and at most 1 for a "
                             f"{SEMANTIC!r} cache, got {threshold!r}.")
        if not isinstance(model, str) or not model:
            raise ValueError(f"a {SEMANTIC!r} cache needs qdrant_semantic_cache_embedding_model "
                             "(the embedding model that compares prompts).")
        if EMBEDDING in self.kinds and self.kinds != frozenset(CALL_TYPES.values()):
            raise ValueError(f"a {SEMANTIC!r} cache answers completions only; drop embedding from "
                             "supported_call_types.")
        self.kinds = self.kinds - {EMBEDDING}

    async def _lookup_semantic(self, kind, model, payload, kwargs, controls, namespace, ttl, wire) -> Lookup:
        from . import semantic

        found = Lookup(kind, cache_key(kind, model, payload, kwargs, namespace), controls, ttl, payload,
                       scope=semantic.scope_of(kind, model, kwargs, namespace))
        try:
            async with asyncio.timeout(self.backend_timeout * 10):  # an embedding call is a model call
                found.vector = await self.embed(semantic.prompt_text(kind, payload))
        except Exception as exc:  # no embedding: neither look up nor store; the call goes on
            self._failed("embedding", exc)
            return found
        if controls.no_cache:
            return found
        try:
            async with asyncio.timeout(self.backend_timeout):
                stored = await semantic.search(self.backend, found.vector, found.scope,
                                               self.similarity_threshold, controls.s_maxage)
        except Exception as exc:
            self._failed("read", exc)
            return found
        if stored is None:
            self._count("misses")
            return found
        self._count("hits")
        found.answer = replay.answer(kind, stored, found.key, kwargs, wire)
        return found

    async def _write_semantic(self, found: Lookup, data: dict[str, Any]) -> None:
        from . import semantic

        if found.vector is None:
            return
        try:
            async with asyncio.timeout(self.backend_timeout):
                await semantic.add(self.backend, found.vector, found.scope, found.key, data, found.ttl)
        except Exception as exc:
            self._failed("write", exc)

    # --- embeddings, item by item ------------------------------------------

    async def _lookup_items(self, model, payload, kwargs, controls, namespace, ttl, wire) -> Lookup:
        value = payload["input"]
        single = not isinstance(value, list) or (bool(value) and all(isinstance(i, int) for i in value))
        items = [value] if single else list(value)
        keys = [cache_key(EMBEDDING, model, {"input": item}, kwargs, namespace) for item in items]
        found = Lookup(EMBEDDING, keys[0] if keys else "", controls, ttl, payload, item_keys=keys,
                       single_input=single)
        if controls.no_cache or not keys:
            found.items = [None] * len(keys)
            return found
        stored = await asyncio.gather(*(self._read(k, controls.s_maxage) for k in keys))
        found.items = list(stored)
        hits = sum(s is not None for s in stored)
        self._count("hits", hits)
        self._count("misses", len(keys) - hits)
        if hits == len(keys):
            found.answer = replay.embedding_answer(model, found.items, keys[0], wire)
        elif hits:
            missing = [item for item, s in zip(items, stored) if s is None]
            found.payload = {"input": missing}
        return found

    async def _store_items(self, found: Lookup, result: Any) -> Any:
        data = replay.plain(result)
        vectors = [row for row in data.get("data") or [] if isinstance(row, dict)]
        vectors.sort(key=lambda row: row.get("index", 0))
        stored = found.items or [None] * len(found.item_keys)
        missing = [i for i, s in enumerate(stored) if s is None]
        if len(vectors) != len(missing):  # not the answer we asked for: pass it on, keep nothing
            return result
        if not found.controls.no_store:
            await asyncio.gather(*(self._write(found.item_keys[i], {"embedding": row.get("embedding")}, found.ttl)
                                   for i, row in zip(missing, vectors)))
        hidden = getattr(result, "_hidden_params", None)
        if hidden is not None:
            hidden["cache_key"] = found.key
            hidden["cache_hit"] = False
        if len(missing) == len(stored):
            return result
        return replay.merge_embeddings(result, data, stored, missing, vectors)

    # --- admin -------------------------------------------------------------

    async def ping(self) -> None:
        """Raises if the backend cannot be reached."""
        async with asyncio.timeout(self.backend_timeout):
            await self.backend.ping()

    async def delete(self, keys: list[str]) -> int:
        if self._front is not None:
            await self._front.delete(list(keys))
        async with asyncio.timeout(self.backend_timeout):
            return await self.backend.delete(list(keys))

    async def close(self) -> None:
        if self._backend is not None:
            await self._backend.close()

    # LiteLLM's helpers on its Cache object.
    def get_cache_key(self, **kwargs: Any) -> str:
        kwargs = dict(kwargs)
        model = str(kwargs.pop("model", ""))
        for field_name, kind in (("messages", CHAT), ("prompt", TEXT), ("input", EMBEDDING)):
            if field_name in kwargs:
                return cache_key(kind, model, {field_name: kwargs.pop(field_name)}, kwargs, self.namespace)
        return cache_key(CHAT, model, {}, kwargs, self.namespace)

    # --- backend access, bypassed on failure --------------------------------

    async def _read(self, key: str, max_age: float | None) -> dict[str, Any] | None:
        raw = await self._front.get(key) if self._front is not None else None
        if raw is None:
            try:
                async with asyncio.timeout(self.backend_timeout):
                    raw = await self.backend.get(key)
            except Exception as exc:  # down or slow: answer from the provider instead
                self._failed("read", exc)
                return None
            if raw is not None and self._front is not None:
                await self._front.set(key, raw, self.front_ttl)
        if raw is None:
            return None
        try:
            entry = orjson.loads(raw)
            created, value = float(entry["created"]), entry["response"]
            if not isinstance(value, dict):
                raise TypeError("response is not an object")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("cache entry %s cannot be read; treated as a miss", key)
            self._count("errors")
            return None
        if max_age is not None and time.time() - created > max_age:
            return None
        return value

    async def _write(self, key: str, value: dict[str, Any], ttl: float | None) -> None:
        try:
            raw = orjson.dumps({"created": time.time(), "response": value})
            async with asyncio.timeout(self.backend_timeout):
                await self.backend.set(key, raw, ttl)
            if self._front is not None:  # only what the shared cache holds too
                await self._front.set(key, raw, min(self.front_ttl, ttl) if ttl is not None else self.front_ttl)
        except Exception as exc:  # the answer is already made; a cache that cannot keep it costs a later miss
            self._failed("write", exc)

    def _failed(self, what: str, exc: Exception) -> None:
        self._count("errors")
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning("%s cache %s failed (%s); calls bypass the cache meanwhile", self.type, what,
                        type(exc).__name__)

    def _count(self, event: str, n: int = 1) -> None:
        if n:
            self.counters[event] += n
            if self.observer is not None:
                self.observer(event, n)


def _kinds(names: list[str] | None) -> frozenset[str]:
    if names is None:
        return frozenset(CALL_TYPES.values())
    if not isinstance(names, (list, tuple)):
        raise ValueError("supported_call_types must be a list of call type names.")
    kinds = set()
    for name in names:
        name = getattr(name, "value", name)
        if name in CALL_TYPES:
            kinds.add(CALL_TYPES[name])
        elif name in NOT_CACHED_CALL_TYPES:
            raise ValueError(f"supported_call_types: polyrelay does not cache {name!r} calls; "
                             f"drop it (cached: {', '.join(CALL_TYPES)}).")
        else:
            raise ValueError(f"supported_call_types: {name!r} is not a call type polyrelay knows.")
    return frozenset(kinds)


def _positive(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"cache {name} must be a number of seconds above 0, got {value!r}.")
    return float(value)
