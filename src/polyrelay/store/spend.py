"""Spend records, written off the request path without losing any.

Two halves, in two processes:

* ``SpendSpool`` (spool.py) lives in each serving process. Every finished
  call's record is appended to the process's spool file with one
  ``write()`` before the response completes: from then on it survives a
  crash of the process (the kernel holds it). The file is locked
  (``flock``) while its owner lives; past ``ROTATE_AT_BYTES`` the owner
  starts a new file and lets go of the old one.
* ``SpendDrain`` moves spooled records into the database in batches, each
  batch in one transaction that also adds to the spend totals of the key,
  user, team and end user. It reads its parent's live spool as it grows,
  and takes over (lock, replay, delete) every spool nobody holds: rotated
  ones, and those of processes that died. The insert skips request ids
  already stored, and totals grow only for rows actually inserted, so
  reading a record twice never counts it twice. A record the database
  refuses for what it holds (or a line cut short) is set aside in
  ``dead-letters.jsonl`` and the drain goes on: one bad record never
  stops the others, nor the next start.

The drain runs as a child process of each gateway worker
(``python -m polyrelay.store.spend``): database writes are Python-heavy
(SQLAlchemy builds every batch), and on a thread of the serving process
they took the GIL from the event loop — measured, 40% of the gateway's
throughput and a 10 ms p99 at one connection (bench/README.md). Only an
in-memory SQLite database, which another process cannot open, is drained
on a thread of the serving process instead.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import exc as sa_exc
from sqlalchemy import JSON, update
from sqlalchemy.dialects import postgresql, sqlite

from . import rollup
from .database import DATABASE_URL_ENV, Database
from .schema import BUDGETED, customers, spend_logs
from .spool import ROTATE_AT_BYTES, SpendSpool  # noqa: F401  (SpendSpool: re-exported, its old home)

log = logging.getLogger("polyrelay.spend")
DRAIN_INTERVAL_SECONDS = 0.5
INSERT_PAGE_ROWS = 100
DEAD_LETTERS = "dead-letters.jsonl"  # records the database refused, next to the spool files
_INT_MAX = 2**31 - 1  # PostgreSQL INTEGER: token counts an upstream reports are clamped to it
_TIME_FIELDS = ("start_time", "end_time")


class SpendDrain:
    """The database's half: move spooled records into the database."""

    def __init__(self, db: Database, spool_dir: str | Path, *, owner_pid: int | None = None,
                 batch_size: int = 2000) -> None:
        self.db = db
        self.dir = Path(spool_dir)
        self.owner_pid = owner_pid  # whose live spools to follow (the others' own drains follow theirs)
        self.batch_size = batch_size
        self._offsets: dict[Path, int] = {}  # how far each followed live spool is stored
        self.failures = 0  # consecutive failed drains (database down): records wait in the spool
        self.dead_letters = 0  # records set aside by this drain (see _set_aside)

    def drain(self) -> int:
        """One pass over the spool directory. Returns how many records were new."""
        if not self.dir.is_dir():
            return 0
        inserted = 0
        for path in sorted(self.dir.glob("spool-*.jsonl")):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # another drain took it first
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # its owner holds it
                    if self.owner_pid is not None and path.name.startswith(f"spool-{self.owner_pid}-"):
                        inserted += self._follow(path, fd)
                    continue
                inserted += self._take_over(path, fd)
            finally:
                os.close(fd)
        return inserted

    def _follow(self, path: Path, fd: int) -> int:
        """Store the whole lines the owner has added since last time."""
        start = self._offsets.get(path, 0)
        data = os.pread(fd, os.fstat(fd).st_size - start, start)
        end = data.rfind(b"\n") + 1
        if end == 0:
            return 0
        inserted = self._store_lines(data[:end].splitlines())
        self._offsets[path] = start + end
        return inserted

    def _take_over(self, path: Path, fd: int) -> int:
        """A spool nobody holds: store the rest of it and remove it. A line
        cut short by a crash mid-write was never acknowledged; it is skipped."""
        start = self._offsets.pop(path, 0)  # what following it already stored
        data = os.pread(fd, os.fstat(fd).st_size - start, start)
        lines = data.splitlines()
        if lines and not data.endswith(b"\n"):
            lines.pop()
        inserted = self._store_lines(lines)
        path.unlink(missing_ok=True)
        if lines and not path.name.startswith(f"spool-{self.owner_pid}-"):
            log.info("spend: stored %d records from %s, a spool its process let go of", len(lines), path.name)
        return inserted

    def _store_lines(self, lines: list[bytes]) -> int:
        inserted = 0
        for start in range(0, len(lines), self.batch_size):
            rows: list[tuple[bytes, dict[str, Any]]] = []
            for line in lines[start:start + self.batch_size]:
                if not line.strip():
                    continue
                try:
                    rows.append((line, _row(orjson.loads(line))))
                except Exception as exc:  # cut short, corrupted, or values that are no record's
                    self._set_aside(line, f"unreadable: {type(exc).__name__}: {exc}")
            inserted += self._store_isolating(rows)
        return inserted

    def _store_isolating(self, rows: list[tuple[bytes, dict[str, Any]]]) -> int:
        """Store a batch; if the database refuses it for what a record holds,
        store each half the same way, down to the refused records, which are
        set aside (one bad record in 2,000 costs ~22 transactions, not 2,000).
        An outage (database down, locked, read-only) is raised: everything
        waits in the spool and is tried again."""
        if not rows:
            return 0
        try:
            return self._store([row for _, row in rows])
        except Exception as exc:
            if _is_outage(exc):
                raise
            if len(rows) == 1:
                self._set_aside(rows[0][0], f"refused by the database: {type(exc).__name__}: {exc}")
                return 0
        half = len(rows) // 2
        return self._store_isolating(rows[:half]) + self._store_isolating(rows[half:])

    def _set_aside(self, line: bytes, reason: str) -> None:
        """A record that can never be stored goes to ``dead-letters.jsonl``
        next to the spool (kept as it was, with the reason), is counted, and
        the drain goes on. If even that file cannot be written, the drain
        stops here and tries again next pass: nothing is dropped."""
        entry = {"at": datetime.now(timezone.utc).isoformat(), "reason": reason[:500],
                 "line": line.decode(errors="replace")}
        # Private like the spool files: records carry metadata.
        fd = os.open(self.dir / DEAD_LETTERS, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, orjson.dumps(entry) + b"\n")
        finally:
            os.close(fd)
        self.dead_letters += 1
        log.error("spend: set a record aside in %s (%s)", self.dir / DEAD_LETTERS, reason[:200])

    def _store(self, entries: list[dict[str, Any]]) -> int:
        if not entries:
            return 0
        # One row per request id, even if a replay put one twice in this batch.
        rows = list({row["request_id"]: row for row in reversed(entries)}.values())
        dialect = postgresql if self.db.dialect == "postgresql" else sqlite
        with self.db.engine.begin() as conn:
            if dialect is postgresql:
                new_ids = _insert_copied(conn, rows)
            else:
                new_ids = _insert_paged(conn, dialect, rows)
            rollup.add(conn, dialect, [row for row in rows if row["request_id"] in new_ids])
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

    def drain_logged(self) -> None:
        """``drain()`` for the loop: a database outage is logged (not every
        time) and retried next pass; the records wait in the spool."""
        try:
            self.drain()
            self.failures = 0
        except Exception as exc:
            self.failures += 1
            if self.failures in (1, 10) or self.failures % 100 == 0:
                log.warning("spend: could not write to the database (%s: %s); records kept in the spool, retrying",
                            type(exc).__name__, str(exc)[:200])


class DrainProcess:
    """Runs ``SpendDrain`` for this serving process: as a child process, or
    on a thread when the database is in-memory SQLite. Restarted if it dies."""

    def __init__(self, db: Database, spool_dir: str | Path, interval: float = DRAIN_INTERVAL_SECONDS) -> None:
        self.db = db
        self.dir = Path(spool_dir)
        self.interval = interval
        self._child: subprocess.Popen | None = None
        self._task: asyncio.Task | None = None
        self._in_process = db.in_memory

    def start(self) -> None:
        if not self._in_process:
            self._spawn()
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="polyrelay-spend-drain")

    def _spawn(self) -> None:
        env = {**os.environ, DATABASE_URL_ENV: self.db.url}
        self._child = subprocess.Popen(
            [sys.executable, "-m", "polyrelay.store.spend", "--spool-dir", str(self.dir),
             "--owner", str(os.getpid()), "--interval", str(self.interval)],
            env=env, stdin=subprocess.DEVNULL)

    async def _watch(self) -> None:
        drain = SpendDrain(self.db, self.dir, owner_pid=os.getpid()) if self._in_process else None
        while True:
            await asyncio.sleep(self.interval if drain else 5.0)
            if drain is not None:
                await self.db.run(drain.drain_logged)
            elif self._child is not None and self._child.poll() is not None:
                log.warning("spend: the drain process exited (code %s); starting another", self._child.returncode)
                self._spawn()

    async def close(self, spool: SpendSpool, timeout: float = 30.0) -> None:
        """After the spool is closed: one last pass, so nothing stays behind."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        spool.close()
        if self._child is None:
            await self.db.run(SpendDrain(self.db, self.dir, owner_pid=os.getpid()).drain_logged)
            return
        self._child.send_signal(signal.SIGTERM)  # it drains once more, then exits
        try:
            await asyncio.to_thread(self._child.wait, timeout)
        except subprocess.TimeoutExpired:
            log.warning("spend: the drain process did not finish in %gs; the next start stores what is left",
                        timeout)
            self._child.kill()


def _insert_paged(conn, dialect, rows: list[dict[str, Any]]) -> set[str]:
    """Insert what is new; the request ids inserted. Pages of exactly
    INSERT_PAGE_ROWS, then the rest one row at a time: two SQL texts in all.
    Batches of every size each made a new multi-row statement, which SQLite
    keeps prepared (the drain grew by ~1 MB a second under load)."""
    statement = (dialect.insert(spend_logs).on_conflict_do_nothing(index_elements=["request_id"])
                 .returning(spend_logs.c.request_id))
    new_ids: set[str] = set()
    whole = len(rows) - len(rows) % INSERT_PAGE_ROWS
    for start in range(0, whole, INSERT_PAGE_ROWS):
        new_ids.update(conn.execute(statement, rows[start:start + INSERT_PAGE_ROWS]).scalars())
    for row in rows[whole:]:
        new_ids.update(conn.execute(statement, row).scalars())
    return new_ids


_COLUMNS = [column.name for column in spend_logs.columns]
_JSON_COLUMNS = frozenset(column.name for column in spend_logs.columns if isinstance(column.type, JSON))
_COLUMN_LIST = ", ".join(f'"{name}"' for name in _COLUMNS)


def _insert_copied(conn, rows: list[dict[str, Any]]) -> set[str]:
    """PostgreSQL: the batch is COPYed into a temporary table, then moved with
    one INSERT ... ON CONFLICT DO NOTHING, in the caller's transaction. The
    paged multi-row INSERT cost the drain most of its CPU: each page's
    statement (thousands of parameters) is past psycopg's statement cache and
    was parsed again every time, after SQLAlchemy compiled it (bench/README.md)."""
    from psycopg.types.json import Json

    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute("CREATE TEMPORARY TABLE IF NOT EXISTS spend_logs_incoming (LIKE spend_logs) "
                       "ON COMMIT DELETE ROWS")
        with cursor.copy(f"COPY spend_logs_incoming ({_COLUMN_LIST}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([Json(row[name]) if name in _JSON_COLUMNS and row[name] is not None else row[name]
                                for name in _COLUMNS])
        cursor.execute(f"INSERT INTO spend_logs ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM spend_logs_incoming "
                       "ON CONFLICT (request_id) DO NOTHING RETURNING request_id")
        return {found[0] for found in cursor.fetchall()}
    finally:
        cursor.close()


def _row(entry: dict[str, Any]) -> dict[str, Any]:
    """A spool line as a spend_logs row. Raises on a line that is no record."""
    if not isinstance(entry, dict) or not isinstance(entry.get("request_id"), str) or not entry["request_id"]:
        raise ValueError("not a spend record (no request_id)")
    row = {column.name: entry.get(column.name) for column in spend_logs.columns}
    for name in _TIME_FIELDS:
        value = row[name]
        if isinstance(value, (int, float)):
            row[name] = datetime.fromtimestamp(value, tz=timezone.utc)
        elif isinstance(value, str):
            row[name] = datetime.fromisoformat(value)
        else:
            raise ValueError(f"{name} is missing")
    for name in ("prompt_tokens", "completion_tokens", "cached_tokens", "total_tokens"):
        row[name] = max(0, min(int(row[name] or 0), _INT_MAX))
    row["spend"] = float(row["spend"] or 0.0)
    row["status"] = row["status"] or "success"
    row["call_type"] = row["call_type"] or "completion"
    for name, value in row.items():
        if isinstance(value, str) and "\x00" in value:  # PostgreSQL text cannot hold NUL
            row[name] = value.replace("\x00", "")
    return row


def _is_outage(exc: BaseException) -> bool:
    """Is the database unavailable (try again later), rather than refusing
    what one record holds (set it aside)?"""
    if isinstance(exc, (sa_exc.DataError, sa_exc.IntegrityError)):
        return False  # too long, out of range, not valid for its column
    try:  # the PostgreSQL COPY path raises psycopg's own errors
        import psycopg
    except ImportError:  # pragma: no cover - PostgreSQL support not installed
        psycopg = None
    if psycopg is not None and isinstance(exc, psycopg.Error):  # as for SQLAlchemy's below
        return not isinstance(exc, (psycopg.DataError, psycopg.IntegrityError, psycopg.errors.ProgramLimitExceeded))
    if isinstance(exc, sa_exc.DBAPIError):
        # PostgreSQL's "index row size exceeds maximum": the value, not the server.
        return exc.connection_invalidated or type(exc.orig).__name__ != "ProgramLimitExceeded"
    return isinstance(exc, (sa_exc.SQLAlchemyError, OSError))


def count_dead_letters(spool_dir: str | Path) -> int:
    """Records set aside in this spool directory (lines of its dead-letter file)."""
    try:
        with open(Path(spool_dir) / DEAD_LETTERS, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def main(argv: list[str] | None = None) -> int:
    """The drain process: ``python -m polyrelay.store.spend --spool-dir D --owner PID``.
    Drains every ``--interval`` seconds until its owner is gone (or SIGTERM),
    then once more, and exits."""
    parser = argparse.ArgumentParser(prog="python -m polyrelay.store.spend",
                                     description="Move spooled spend records into the database.")
    parser.add_argument("--spool-dir", required=True)
    parser.add_argument("--owner", type=int, required=True, help="pid of the serving process whose spool to follow")
    parser.add_argument("--interval", type=float, default=DRAIN_INTERVAL_SECONDS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    url = os.environ.get(DATABASE_URL_ENV)
    if not url:
        parser.error(f"{DATABASE_URL_ENV} must name the database")
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the owner decides
    db = Database(url)
    drain = SpendDrain(db, args.spool_dir, owner_pid=args.owner)
    while not stopping and os.getppid() == args.owner:
        drain.drain_logged()
        deadline = time.monotonic() + args.interval
        while not stopping and time.monotonic() < deadline:
            time.sleep(min(0.05, args.interval))
    drain.drain_logged()
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
