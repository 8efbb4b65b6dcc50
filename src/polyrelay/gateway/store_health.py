"""Is the gateway's storage usable: the spend spool (local disk) and the
database. Checked in the background every few seconds, never per request:
requests read two attributes (``spool.writable``, ``db_status``).

- The spool: free space and writability (``SpendSpool.check``). While it
  cannot be written, calls answer 503 before any provider is called, and
  readiness answers 503, so a load balancer sends calls elsewhere.
- The database: on SQLite a write lock taken and a no-op write rolled back
  at once (a locked or read-only file shows here, not only as a failed
  write five seconds later), ``SELECT 1`` and the read-only flag on PostgreSQL. A
  database problem is reported on readiness but does not take the instance
  out: calls go on, and their records wait in the spool until the database
  is back.
"""

from __future__ import annotations

import asyncio
import logging
import os

from sqlalchemy import text

log = logging.getLogger("polyrelay.gateway")
SPOOL_CHECK_SECONDS = 1.0
DB_CHECK_SECONDS = 5.0
SQLITE_CHECK_BUSY_MS = 1000  # how long the check waits for another writer before calling the file locked
CONNECTED = "connected"


class StoreHealth:
    def __init__(self, db, spool) -> None:
        self.db = db
        self.spool = spool
        self.db_status = CONNECTED  # or "error: <why>"
        self._dead_letters = (-1, 0)  # (file size, lines) of the dead-letter file, counted when it grows

    # --- the database ------------------------------------------------------

    def _probe(self) -> None:
        """Raises if the database cannot take a write now."""
        if self.db.is_sqlite:
            raw = self.db.engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute(f"PRAGMA busy_timeout={SQLITE_CHECK_BUSY_MS}")
                try:
                    # The write lock (fails if another process holds it), then a write that changes
                    # nothing (fails on a read-only file: taking the lock alone does not), rolled back.
                    cursor.execute("BEGIN IMMEDIATE")
                    cursor.execute("UPDATE alembic_version SET version_num = version_num")
                    raw.rollback()
                finally:
                    cursor.execute("PRAGMA busy_timeout=5000")
                    cursor.close()
            finally:
                raw.close()
            return
        with self.db.engine.connect() as conn:
            if conn.execute(text("SHOW transaction_read_only")).scalar() == "on":
                raise RuntimeError("the database is read-only")

    async def check_db(self) -> str:
        try:
            await self.db.run(self._probe)
        except Exception as exc:
            self.db_failed(exc)
        else:
            if self.db_status != CONNECTED:
                log.warning("database %s is usable again", self.db.safe_url())
            self.db_status = CONNECTED
        return self.db_status

    def db_failed(self, exc: BaseException) -> None:
        """A check or a management call found the database unusable."""
        why = describe_db_error(exc)
        if self.db_status == CONNECTED:
            log.error("database %s is not usable: %s", self.db.safe_url(), why)
        self.db_status = f"error: {why}"

    # --- the spool -----------------------------------------------------------

    def dead_letters(self) -> int:
        """Records the drain set aside (see store.spend.DEAD_LETTERS)."""
        from ..store.spend import DEAD_LETTERS, count_dead_letters

        try:
            size = os.stat(self.spool.dir / DEAD_LETTERS).st_size
        except OSError:
            return 0
        if size != self._dead_letters[0]:
            self._dead_letters = (size, count_dead_letters(self.spool.dir))
        return self._dead_letters[1]

    async def watch(self) -> None:
        loop_time = asyncio.get_running_loop().time
        next_db = loop_time() + DB_CHECK_SECONDS
        while True:
            await asyncio.sleep(SPOOL_CHECK_SECONDS)
            try:
                self.spool.check()
                if loop_time() >= next_db:
                    next_db = loop_time() + DB_CHECK_SECONDS
                    await self.check_db()
            except Exception:  # a check must never stop checking
                log.exception("storage check failed")


def describe_db_error(exc: BaseException) -> str:
    """The driver's first line ("database is locked", "attempt to write a readonly database"), no SQL."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    return first[:200]
