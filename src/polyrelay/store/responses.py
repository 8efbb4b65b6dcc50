"""Stored Responses API answers: saved when a response finishes (store: true),
read by GET /v1/responses/{id} and by a later call's previous_response_id,
only by the key that made them.

A save must be readable at once (an agent sends its next turn as soon as
the last one completed), but the database write must not hold up the
answer: the newest responses stay in memory, and the write runs in the
background.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import and_, delete, insert, select

from .database import Database
from .schema import responses

log = logging.getLogger("polyrelay.gateway")
RECENT = 512  # responses kept in memory per process


class ResponseStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._recent: OrderedDict[str, tuple[str, dict[str, Any], list[dict[str, Any]]]] = OrderedDict()
        self._writing: set[asyncio.Task] = set()

    def save(self, owner: str, response: dict[str, Any], messages: list[dict[str, Any]]) -> None:
        response_id = response["id"]
        self._recent[response_id] = (owner, response, messages)
        while len(self._recent) > RECENT:
            self._recent.popitem(last=False)
        row = {"response_id": response_id, "owner": owner, "created_at": datetime.now(timezone.utc),
               "response": response, "messages": messages}
        task = asyncio.get_running_loop().create_task(self.db.run(self._insert, row))
        self._writing.add(task)
        task.add_done_callback(self._written)

    def _written(self, task: asyncio.Task) -> None:
        self._writing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a stored response could not be written: %s", task.exception())

    def _insert(self, row: dict[str, Any]) -> None:
        with self.db.engine.begin() as connection:
            connection.execute(insert(responses).values(**row))

    async def get(self, owner: str, response_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """(response, conversation messages), or None if absent or someone else's."""
        found = self._recent.get(response_id)
        if found is not None:
            return (found[1], found[2]) if found[0] == owner else None
        return await self.db.run(self._select, owner, response_id)

    def _select(self, owner: str, response_id: str):
        with self.db.engine.connect() as connection:
            row = connection.execute(select(responses.c.response, responses.c.messages).where(
                and_(responses.c.response_id == response_id, responses.c.owner == owner))).first()
        return (row.response, row.messages) if row is not None else None

    async def delete(self, owner: str, response_id: str) -> bool:
        found = self._recent.get(response_id)
        if found is not None and found[0] == owner:
            del self._recent[response_id]
        await self.flush()  # a delete right after a save must not race the save's write
        return await self.db.run(self._delete, owner, response_id) or found is not None and found[0] == owner

    def _delete(self, owner: str, response_id: str) -> bool:
        with self.db.engine.begin() as connection:
            result = connection.execute(delete(responses).where(
                and_(responses.c.response_id == response_id, responses.c.owner == owner)))
        return result.rowcount > 0

    async def flush(self) -> None:
        if self._writing:
            await asyncio.gather(*list(self._writing), return_exceptions=True)
