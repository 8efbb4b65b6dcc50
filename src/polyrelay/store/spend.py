"""Spend records, written off the request path without losing any.

Each finished call's record is appended to this process's spool file with
one ``write()`` before the response completes: from then on it survives a
crash of the process (the kernel holds it). A background task moves spooled
records into the database in batches, each batch in one transaction that
also adds to the spend totals of the key, user, team and end user. The
insert skips request ids already stored, and totals grow only for rows
actually inserted, so replaying a spool after a crash never counts twice.

A spool whose process died (its lock is free) is replayed and removed by
the next process that starts, or by a live one on its next sweep.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import threading
import uuid
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite

from .database import Database
from .schema import BUDGETED, customers, spend_logs

log = logging.getLogger("polyrelay.spend")
TRUNCATE_AT_BYTES = 4 << 20  # once everything is flushed, start the spool over past this size
_TIME_FIELDS = ("start_time", "end_time")


class SpendWriter:
    def __init__(self, db: Database, spool_dir: str | Path, *, interval: float = 0.5, batch_size: int = 2000) -> None:
        self.db = db
        self.dir = Path(spool_dir)
        self.interval = interval
        self.batch_size = batch_size
        self._lock = threading.Lock()  # record() on the loop thread vs flush() on a worker thread
        self._fd: int | None = None
        self._path: Path | None = None
        self._flushed = 0
        self._task: asyncio.Task | None = None
        self.failures = 0  # consecutive failed flushes (database down): records wait in the spool

    # -- life cycle ---------------------------------------------------------------------------------

    def open(self) -> None:
        """Take a spool of our own (locked while we live) and replay any left by dead processes."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._path = self.dir / f"spool-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.recover_orphans()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="polyrelay-spend-writer")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        try:
            await self.db.run(self.flush)
        except Exception:  # the records stay in the spool; the next start replays them
            log.exception("spend: final flush failed; %s keeps the records for the next start", self._path)
            return
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            if self._path is not None and self._path.stat().st_size == self._flushed:
                self._path.unlink(missing_ok=True)

    async def _run(self) -> None:
        sweeps = 0
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.db.run(self.flush)
                self.failures = 0
                sweeps += 1
                if sweeps % 60 == 0:
                    await self.db.run(self.recover_orphans)
            except Exception as exc:  # database down: keep the spool, try again next tick
                self.failures += 1
                if self.failures in (1, 10) or self.failures % 100 == 0:
                    log.warning("spend: could not write to the database (%s: %s); records kept in the spool, retrying",
                                type(exc).__name__, str(exc)[:200])

    # -- the request path ---------------------------------------------------------------------------

    def record(self, entry: dict[str, Any]) -> None:
        """Spool one record. Synchronous and small: one write() of one line."""
        line = orjson.dumps(entry, default=str) + b"\n"
        with self._lock:
            assert self._fd is not None, "SpendWriter.open() first"
            os.write(self._fd, line)

    # -- the background path ------------------------------------------------------------------------

    def flush(self) -> int:
        """Move what is spooled into the database. Returns how many records were new."""
        if self._path is None:
            return 0
        inserted = 0
        while True:
            with self._lock:
                size = os.fstat(self._fd).st_size if self._fd is not None else 0
            if size <= self._flushed:
                break
            with open(self._path, "rb") as spool:
                spool.seek(self._flushed)
                data = spool.read(size - self._flushed)
            end = data.rfind(b"\n") + 1  # only whole lines
            if end == 0:
                break
            lines = data[:end].splitlines()
            for start in range(0, len(lines), self.batch_size):
                inserted += self._store([orjson.loads(line) for line in lines[start:start + self.batch_size] if line])
            self._flushed += end
        with self._lock:
            if self._fd is not None and self._flushed >= TRUNCATE_AT_BYTES and os.fstat(self._fd).st_size == self._flushed:
                os.ftruncate(self._fd, 0)
                self._flushed = 0
        return inserted

    def recover_orphans(self) -> int:
        """Replay and remove the spools of processes that are gone."""
        recovered = 0
        for path in sorted(self.dir.glob("spool-*.jsonl")):
            if path == self._path:
                continue
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue  # another process took it first
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its owner is alive
                data = path.read_bytes()
                lines = [orjson.loads(line) for line in data.splitlines() if line.strip()]
                for start in range(0, len(lines), self.batch_size):
                    recovered += self._store(lines[start:start + self.batch_size])
                path.unlink(missing_ok=True)
                if lines:
                    log.warning("spend: replayed %d records from %s (a previous process stopped unexpectedly)",
                                len(lines), path.name)
            finally:
                os.close(fd)
        return recovered

    def _store(self, entries: list[dict[str, Any]]) -> int:
        if not entries:
            return 0
        # One row per request id, even if a replay put one twice in this batch.
        rows = list({row["request_id"]: row for row in map(_row, reversed(entries))}.values())
        dialect = postgresql if self.db.dialect == "postgresql" else sqlite
        with self.db.engine.begin() as conn:
            statement = (dialect.insert(spend_logs).on_conflict_do_nothing(index_elements=["request_id"])
                         .returning(spend_logs.c.request_id))
            new_ids = set(conn.execute(statement, rows).scalars().all())
            totals: dict[tuple[str, str], float] = defaultdict(float)
            for row in rows:
                if row["request_id"] in new_ids and row["spend"]:
                    for column in BUDGETED:
                        if row.get(column):
                            totals[(column, row[column])] += row["spend"]
            for (column, ident), amount in totals.items():
                table = BUDGETED[column]
                if table is customers:
                    # End users get a row on first spend, so /customer/info can show it.
                    upsert = dialect.insert(customers).values(user_id=ident, spend=amount, blocked=False,
                                                              created_at=datetime.now(timezone.utc))
                    conn.execute(upsert.on_conflict_do_update(index_elements=["user_id"],
                                                              set_={"spend": customers.c.spend + amount}))
                else:
                    key = table.primary_key.columns.values()[0]
                    conn.execute(update(table).where(key == ident).values(spend=table.c.spend + amount))
        return len(new_ids)


def _row(entry: dict[str, Any]) -> dict[str, Any]:
    row = {column.name: entry.get(column.name) for column in spend_logs.columns}
    for name in _TIME_FIELDS:
        value = row[name]
        if isinstance(value, (int, float)):
            row[name] = datetime.fromtimestamp(value, tz=timezone.utc)
        elif isinstance(value, str):
            row[name] = datetime.fromisoformat(value)
    for name in ("prompt_tokens", "completion_tokens", "cached_tokens", "total_tokens"):
        row[name] = int(row[name] or 0)
    row["spend"] = float(row["spend"] or 0.0)
    row["status"] = row["status"] or "success"
    row["call_type"] = row["call_type"] or "completion"
    return row
