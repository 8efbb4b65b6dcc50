"""One database layer: SQLite by default (a file in the working directory),
PostgreSQL with ``database_url`` / ``DATABASE_URL``. The schema is created
and migrated (Alembic, versioned) when the gateway starts.

Calls are plain SQLAlchemy Core on a thread (``await db.run(fn)``): they are
off the request path (key lookups are cached, spend is written in batches),
so a synchronous driver costs nothing a user can feel and keeps one code
path for both databases.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sys
from importlib import resources
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

T = TypeVar("T")
DEFAULT_URL = "sqlite:///polyrelay.db"
DATABASE_URL_ENV = "POLYRELAY_DATABASE_URL"  # how child processes (migration, spend drain) get the URL
MIGRATION_LOCK_KEY = 0x706F6C79  # "poly": PostgreSQL advisory lock held while migrating


def normalize_url(url: str | None) -> str:
    url = url or os.environ.get("DATABASE_URL") or DEFAULT_URL
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(connection, _record) -> None:
        cursor = connection.cursor()
        # WAL: readers never wait for the spend writer; NORMAL sync is durable
        # against process crashes (the spool covers the rest).
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def is_unavailable(exc: BaseException) -> bool:
    """Is this the database being unreachable (down, restarting, refusing
    connections), rather than a fault in what we asked of it? Requests that
    meet one answer 503 (try again), not 500."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        return bool(exc.connection_invalidated)
    try:
        import psycopg
    except ImportError:  # pragma: no cover - PostgreSQL support not installed
        return False
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))


class Database:
    def __init__(self, url: str | None = None) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        options: dict[str, Any] = {"pool_pre_ping": True}
        if self.is_sqlite:
            options["connect_args"] = {"check_same_thread": False}
        else:
            options.update(pool_size=5, max_overflow=10)
        self.engine = create_engine(self.url, **options)
        if self.is_sqlite:
            _tune_sqlite(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Bring the schema to the newest version (creates it on a new database)."""
        from alembic import command
        from alembic.config import Config

        # Alembic narrates every step at INFO; a gateway start needs none of it.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        config = Config()
        config.set_main_option("script_location", str(resources.files("polyrelay.store") / "migrations"))
        # Several gateways (or --num_workers workers) starting at once on a new database each
        # migrate: one at a time, or the second one's CREATE TABLE fails and its start-up with it.
        # The later ones then find the schema at head and do nothing.
        with self._migration_lock(), self.engine.begin() as connection:
            if self.dialect == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextlib.contextmanager
    def _migration_lock(self):
        """For a SQLite file, an exclusive flock on a file beside it (PostgreSQL takes an
        advisory lock in the migration's transaction instead)."""
        if not self.is_sqlite or self.in_memory:
            yield
            return
        path = self.engine.url.database
        if path.startswith("file:"):  # a SQLite URI (file:/path?mode=ro&uri=true)
            path = urlsplit(path).path
        try:
            lock = open(f"{path}.migrate-lock", "a")
        except OSError:  # a read-only place: nothing there to migrate at once with anyone
            yield
            return
        with lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # released when the file closes
            yield

    @property
    def in_memory(self) -> bool:
        """An in-memory SQLite database: no other process can open it."""
        return self.is_sqlite and self.engine.url.database in (None, "", ":memory:")

    async def migrate_in_child(self) -> None:
        """``migrate()`` in a short-lived child process, so that Alembic and
        its templates (~10 MB) never load into a long-running server. An
        in-memory database is migrated here instead."""
        if self.in_memory:
            await self.run(self.migrate)
            return
        env = {**os.environ, DATABASE_URL_ENV: self.url}  # not argv: argv is public in `ps`
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "polyrelay.store.database", env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await child.communicate()
        if child.returncode != 0:
            last = err.decode(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise RuntimeError(f"migrating the database at {self.safe_url()} failed: {last[0]}")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    def dispose(self) -> None:
        self.engine.dispose()

    def safe_url(self) -> str:
        """The URL without its password, for logs."""
        return self.engine.url.render_as_string(hide_password=True)


if __name__ == "__main__":  # the migration child of ``migrate_in_child``
    Database(os.environ[DATABASE_URL_ENV]).migrate()
