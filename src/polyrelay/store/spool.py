"""The serving process's half of spend recording: one line per finished
call, appended to a spool file the drain (spend.py) moves into the database.

Recording cannot fail on content: a record whose metadata cannot be
written as JSON (nested too deep, odd types) keeps its cost and tokens and
gets a marker in place of the metadata, and metadata larger than
``METADATA_MAX_BYTES`` is cut to a marker with a preview. What can fail is
the disk: a write that fails (disk full, read-only) keeps the line in
memory, marks the spool not writable — the gateway then answers 503 before
calling any provider, and readiness says so — and is retried by
``check()``, which the gateway runs every few seconds and which also looks
at the free space, so a disk that fills up is noticed before a write fails.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("polyrelay.spend")
ROTATE_AT_BYTES = 4 << 20  # a spool this big is handed to the drain whole and a new one started
# Metadata kept per spend record. More is cut to a marker holding the first
# METADATA_PREVIEW_CHARS of its JSON: 20 calls with 10 MB each once took 200 MB of disk.
METADATA_MAX_BYTES = 16 << 10
METADATA_PREVIEW_CHARS = 1024
# Below this much free space the spool counts as not writable: calls stop
# (503) before a provider is paid for a call we could not record.
MIN_FREE_BYTES = 16 << 20
# Lines kept in memory while the disk refuses them (then dropped, logged).
MAX_PENDING_LINES = 10_000


def spool_name(pid: int) -> str:
    return f"spool-{pid}-{uuid.uuid4().hex[:8]}.jsonl"


def instance_spool_dir(base: str | Path, db_identity: str) -> Path:
    """This database's spool inside ``base``: ``base/db-<hash>``. Instances
    started in one directory against different databases never take over
    each other's records; a restarted instance (same database) finds and
    stores what its predecessor left."""
    digest = hashlib.sha256(db_identity.encode()).hexdigest()[:12]
    path = Path(base) / f"db-{digest}"
    path.mkdir(parents=True, exist_ok=True)
    label = path / "database.txt"  # for people looking at the directory; the URL without its password
    if not label.exists():
        try:
            label.write_text(db_identity + "\n")
        except OSError:
            pass  # a full or read-only disk: check() reports it
    return path


def marker(reason: str, **more: Any) -> dict[str, Any]:
    """What stands in for metadata that was not stored as sent."""
    return {"_polyrelay_metadata": reason, **more}


def dump_record(entry: dict[str, Any]) -> bytes:
    """One spool line. Never fails on the metadata's content; other fields are
    the gateway's own (ids, numbers, times)."""
    try:
        line = orjson.dumps(entry, default=str)
    except (TypeError, ValueError) as exc:  # orjson: "Recursion limit reached", non-str keys, ...
        line = orjson.dumps({**entry, "metadata": marker("not recorded: could not be written as JSON",
                                                          error=str(exc)[:200])}, default=str)
    # The line holds the metadata: only a line this long can hold too much, and only then is it measured.
    if len(line) > METADATA_MAX_BYTES and entry.get("metadata") is not None:
        text = orjson.dumps(entry["metadata"], default=str)
        if len(text) > METADATA_MAX_BYTES:
            preview = text[:METADATA_PREVIEW_CHARS].decode(errors="ignore")
            line = orjson.dumps({**entry, "metadata": marker("truncated", bytes=len(text), preview=preview)},
                                default=str)
    return line + b"\n"


class SpendSpool:
    """Append one line per finished call; locked (``flock``) while we hold it."""

    def __init__(self, spool_dir: str | Path, *, rotate_at: int = ROTATE_AT_BYTES,
                 min_free_bytes: int = MIN_FREE_BYTES) -> None:
        self.dir = Path(spool_dir)
        self.rotate_at = rotate_at
        self.min_free_bytes = min_free_bytes
        self.path: Path | None = None
        self._fd: int | None = None
        self._size = 0
        # Read on every call before a provider is called: a plain attribute, no syscall.
        self.writable = True
        self.problem: str | None = None  # why not, for readiness and logs
        self._pending: list[bytes] = []  # lines the disk refused, oldest first
        self.dropped = 0  # lines lost after MAX_PENDING_LINES (logged)

    def open(self) -> None:
        """Take a spool file of our own, locked while we hold it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / spool_name(os.getpid())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        previous = self._fd
        self.path, self._fd, self._size = path, fd, 0
        if previous is not None:
            os.close(previous)  # unlocked: the drain takes it from here

    def record(self, entry: dict[str, Any]) -> None:
        """Spool one record: one write() of one line. A disk error does not
        raise: the call was made (and paid); its line waits in memory."""
        assert self._fd is not None, "SpendSpool.open() first"
        line = dump_record(entry)
        if self._pending or not self._write(line):
            self._keep(line)

    def _write(self, line: bytes) -> bool:
        try:
            written = os.write(self._fd, line)  # type: ignore[arg-type]
            if written != len(line):  # short write: the disk filled up mid-line
                raise OSError(errno.ENOSPC, "short write to the spend spool")
        except OSError as exc:
            self._cut_partial_line()
            self._not_writable(f"{exc.strerror or exc} ({self.dir})")
            return False
        self._size += len(line)
        if self._size >= self.rotate_at:
            try:
                self.open()
            except OSError as exc:  # keep writing the old file; check() tries again
                self._not_writable(f"cannot start a new spool file: {exc.strerror or exc}")
        return True

    def _cut_partial_line(self) -> None:
        """The drain reads whole lines only: take back what a failed write left."""
        try:
            if os.fstat(self._fd).st_size > self._size:  # type: ignore[arg-type]
                os.ftruncate(self._fd, self._size)  # type: ignore[arg-type]
        except OSError:
            pass

    def _keep(self, line: bytes) -> None:
        if len(self._pending) >= MAX_PENDING_LINES:
            self.dropped += 1
            if self.dropped in (1, 100) or self.dropped % 10_000 == 0:
                log.error("spend: %d record(s) lost: the spool at %s is not writable (%s)", self.dropped,
                          self.dir, self.problem)
            return
        self._pending.append(line)

    def _not_writable(self, why: str) -> None:
        if self.writable:
            log.error("spend: the spool cannot be written (%s); calls answer 503 until it can", why)
        self.writable, self.problem = False, why

    def check(self) -> bool:
        """Run every few seconds (not per request): is there room, and can the
        lines kept in memory be written now? Sets ``writable``."""
        try:
            stat = os.statvfs(self.dir)
            free = stat.f_bavail * stat.f_frsize
            if stat.f_flag & os.ST_RDONLY:
                self._not_writable(f"read-only file system ({self.dir})")
                return False
            if free < self.min_free_bytes:
                self._not_writable(f"{free} bytes free, fewer than {self.min_free_bytes} ({self.dir})")
                return False
        except OSError as exc:
            self._not_writable(f"{exc.strerror or exc} ({self.dir})")
            return False
        if self._fd is None:
            return self.writable
        while self._pending:
            if not self._write(self._pending[0]):
                return False
            self._pending.pop(0)
        if not self.writable:
            log.warning("spend: the spool can be written again (%s)", self.dir)
        self.writable, self.problem = True, None
        return True

    def close(self) -> None:
        if self._fd is not None:
            if self._pending:
                self.check()
            if self._pending:
                log.error("spend: %d record(s) not written at shutdown: the spool at %s is not writable",
                          len(self._pending), self.dir)
            os.close(self._fd)
            self._fd = None
