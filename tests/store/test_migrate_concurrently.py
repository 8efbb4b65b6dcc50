"""Several gateways (or --num_workers workers) starting at once on a new
database each migrate it; all of them must start. Before the migration lock
the second one's CREATE TABLE failed and took its start-up down with it
(found by bench/slow_streams.py --workers 2 on a fresh SQLite file)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
import sqlalchemy

import services
from polyrelay.store.database import DATABASE_URL_ENV, Database


def migrate_at_once(url: str, count: int = 4) -> list[subprocess.CompletedProcess]:
    env = {**os.environ, DATABASE_URL_ENV: url}
    children = [subprocess.Popen([sys.executable, "-m", "polyrelay.store.database"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(count)]
    return [subprocess.CompletedProcess(c.args, c.wait(timeout=120), *c.communicate()) for c in children]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
@pytest.mark.parametrize("round_", range(4))  # without the lock about half the rounds failed
def test_four_migrations_at_once_all_succeed(kind, round_, tmp_path, request):
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'polyrelay.db'}"
    else:
        url = services.new_database(request.getfixturevalue("postgres_admin_url"), f"t_{uuid.uuid4().hex[:12]}")
    results = migrate_at_once(url)
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr[-500:] for r in results if r.returncode]
    database = Database(url)
    try:
        tables = set(sqlalchemy.inspect(database.engine).get_table_names())
        with database.engine.connect() as connection:
            versions = connection.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).all()
    finally:
        database.dispose()
    assert {"keys", "spend_logs"} <= tables
    assert len(versions) == 1  # migrated once, to one head
