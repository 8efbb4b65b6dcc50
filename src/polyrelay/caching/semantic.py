"""The semantic cache (``type="qdrant-semantic"``): a stored answer serves
a new request when the new prompt's embedding is at least
``similarity_threshold`` similar (cosine) to the stored prompt's, and every
other parameter is the same.

- The prompt is the text of the messages (each ``role: content`` on a line)
  or the ``prompt``; it is embedded with ``qdrant_semantic_cache_embedding_model``
  (in the gateway: a model group of the config; in the SDK: any model string).
- "Every other parameter" is the ``scope``: the exact cache key computed
  without the input (model group, temperature, tools, namespace...). A
  semantic hit never crosses models or settings.
- An embedding call that fails bypasses the cache (warning, ``error``
  count), as a backend that is down does.
"""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable

import orjson

from ..providers.base import CHAT
from .backends.qdrant import NEVER
from .key import cache_key

Embed = Callable[[str], Awaitable[list[float]]]


def prompt_text(kind: str, payload: dict[str, Any]) -> str:
    if kind == CHAT:
        lines = []
        for message in payload.get("messages") or ():
            message = message if isinstance(message, dict) else message.model_dump()
            content = message.get("content")
            if isinstance(content, list):  # content parts: their text
                content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
            lines.append(f"{message.get('role')}: {content or ''}")
        return "\n".join(lines)
    prompt = payload.get("prompt")
    return prompt if isinstance(prompt, str) else orjson.dumps(prompt).decode()


def sdk_embedder(model: str) -> Embed:
    """Embeddings through polyrelay's own ``aembedding`` (SDK callers)."""
    async def embed(text: str) -> list[float]:
        from ..api import aembedding

        answer = await aembedding(model=model, input=[text])
        return _vector(answer)

    return embed


def router_embedder(router, group: str) -> Embed:
    """Embeddings from a model group of the gateway's Router."""
    async def embed(text: str) -> list[float]:
        answer = await router.aembedding(model=group, input=[text], polyrelay_wire=True)
        return _vector(answer)

    return embed


def _vector(answer: Any) -> list[float]:
    data = answer if isinstance(answer, dict) else answer.model_dump()
    row = data["data"][0]
    return list(row["embedding"] if isinstance(row, dict) else row.embedding)


def scope_of(kind: str, model: str, kwargs: dict[str, Any], namespace: str | None) -> str:
    return cache_key(kind, model, {}, kwargs, namespace)


async def search(index, vector: list[float], scope: str, threshold: float,
                 max_age: float | None) -> dict[str, Any] | None:
    found = await index.search(vector, scope, threshold, time.time())
    if found is None:
        return None
    if max_age is not None and time.time() - float(found.get("created", 0)) > max_age:
        return None
    return orjson.loads(found["response"])


async def add(index, vector: list[float], scope: str, key: str, response: dict[str, Any],
              ttl: float | None) -> None:
    now = time.time()
    await index.add(vector, {"scope": scope, "key": key, "created": now,
                             "expires": now + ttl if ttl is not None else NEVER,
                             "response": orjson.dumps(response).decode()})
