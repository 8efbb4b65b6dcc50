"""Vectors for the semantic cache, in Qdrant: qdrant-client's local mode
(in this process, in memory or in a folder) by default, or a Qdrant server
(``qdrant_api_base``) that several gateways share.

Each point is one stored answer: its prompt's embedding, the ``scope`` it
may answer (a hash of the model and every other parameter: see
semantic.py), the answer itself and when it expires. The collection is
made on first store, sized by the first embedding.
"""

from __future__ import annotations

import uuid
from typing import Any

NEVER = 1e18  # "expires" of an entry without a ttl


class QdrantIndex:
    name = "qdrant"

    def __init__(self, *, api_base: str | None = None, api_key: str | None = None,
                 collection: str = "polyrelay_semantic_cache", path: str | None = None) -> None:
        from qdrant_client import AsyncQdrantClient  # the ``semantic`` extra

        self._server = bool(api_base)
        if api_base:
            self._client = AsyncQdrantClient(url=api_base, api_key=api_key)
        elif path:
            self._client = AsyncQdrantClient(path=path)
        else:
            self._client = AsyncQdrantClient(location=":memory:")
        self.collection = collection
        self._ready = False

    async def _collection(self, size: int | None) -> bool:
        """True once the collection exists (made now when ``size`` is given)."""
        if self._ready:
            return True
        from qdrant_client import models

        if await self._client.collection_exists(self.collection):
            self._ready = True
        elif size is not None:
            await self._client.create_collection(
                self.collection, vectors_config=models.VectorParams(size=size, distance=models.Distance.COSINE))
            if self._server:  # a server filters faster with them; local mode has none
                for field in ("scope", "key"):
                    await self._client.create_payload_index(self.collection, field,
                                                            models.PayloadSchemaType.KEYWORD)
            self._ready = True
        return self._ready

    async def search(self, vector: list[float], scope: str, threshold: float, now: float) -> dict[str, Any] | None:
        """The payload of the nearest live entry in ``scope`` at least ``threshold`` similar, or None."""
        from qdrant_client import models

        if not await self._collection(None):
            return None
        found = await self._client.query_points(
            self.collection, query=vector, limit=1, score_threshold=threshold, with_payload=True,
            query_filter=models.Filter(must=[
                models.FieldCondition(key="scope", match=models.MatchValue(value=scope)),
                models.FieldCondition(key="expires", range=models.Range(gt=now))]))
        if not found.points:
            return None
        point = found.points[0]
        return {**(point.payload or {}), "score": point.score}

    async def add(self, vector: list[float], payload: dict[str, Any]) -> None:
        from qdrant_client import models

        await self._collection(len(vector))
        await self._client.upsert(self.collection, points=[
            models.PointStruct(id=str(uuid.uuid4()), vector=vector, payload=payload)])

    async def delete(self, keys: list[str]) -> int:
        from qdrant_client import models

        if not keys or not await self._collection(None):
            return 0
        selector = models.Filter(must=[models.FieldCondition(key="key", match=models.MatchAny(any=keys))])
        matched = await self._client.count(self.collection, count_filter=selector, exact=True)
        await self._client.delete(self.collection, points_selector=models.FilterSelector(filter=selector))
        return matched.count

    async def ping(self) -> None:
        await self._client.get_collections()

    async def close(self) -> None:
        await self._client.close()
