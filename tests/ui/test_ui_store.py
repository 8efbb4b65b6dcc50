"""The UI's SQL (ui/queries.py) on SQLite and on a real PostgreSQL, against
rows whose sums, percentiles and buckets are known; and the whole UI on a
gateway whose records live in PostgreSQL."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest

import services
from polyrelay.store.database import Database
from polyrelay.store import rollup
from polyrelay.store.schema import keys, latency_hourly, spend_hourly, spend_logs, teams
from polyrelay.store.spend import SpendDrain, _row
from polyrelay.ui import queries
from uihelp import calls, csrf, sign_in, start_gateway, wait_for_logs

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path}/ui.db")
    else:
        admin = request.getfixturevalue("postgres_admin_url")
        database = Database(services.new_database(admin, f"ui_{uuid.uuid4().hex[:10]}"))
    database.migrate()
    yield database
    database.dispose()


def row(i: int, at: datetime, **fields):
    return {"request_id": f"r{i:05d}", "call_type": "chat_completions", "api_key": "k" * 64, "team_id": None,
            "model_group": "cheap", "model": "mock/cheap", "model_id": "d1", "prompt_tokens": 10,
            "completion_tokens": 5, "cached_tokens": 0, "total_tokens": 15, "spend": 0.01, "start_time": at,
            "end_time": at, "latency_ms": 100.0, "status": "success", **fields}


def fill(db, rows, tmp_path=None):
    """Records stored as the gateway stores them: through the spend drain (which keeps the roll-ups)."""
    with db.engine.begin() as conn:
        conn.execute(keys.insert().values(token_hash="k" * 64, key_name="sk-...abcd", key_alias="main-key",
                                          spend=0.0, blocked=False, created_at=NOW))
        conn.execute(teams.insert().values(team_id="t1", team_alias="Search", spend=0.0, blocked=False,
                                           created_at=NOW))
    return SpendDrain(db, "/nonexistent")._store([spool_row(r) for r in rows])


def spool_row(entry):
    return _row({**entry, "start_time": entry["start_time"].isoformat(), "end_time": entry["end_time"].isoformat()})


def test_overview_sums_buckets_percentiles_and_tops(db):
    rows = []
    # Hour -1: 10 calls at latencies 10..100 ms; hour -3: 2 failures on team t1 (model other); 1 row too old.
    for i in range(10):
        rows.append(row(i, NOW - timedelta(minutes=50) + timedelta(seconds=i), latency_ms=10.0 * (i + 1)))
    for i in range(10, 12):
        rows.append(row(i, NOW - timedelta(hours=3), status="failure", spend=0.0, team_id="t1",
                        model_group="other", latency_ms=2.5))
    rows.append(row(99, NOW - timedelta(hours=30), spend=5.0))
    assert fill(db, rows) == 13
    data = queries.overview(db, "24h", now=NOW)
    assert data.requests == 12 and data.errors == 2 and data.spend == pytest.approx(0.10)
    assert data.tokens == 12 * 15 and data.error_rate == pytest.approx(2 / 12)
    assert len(data.buckets) == 25  # every hour of the window, empty ones included
    by_hour = {b["at"]: b for b in data.buckets}
    assert by_hour[datetime(2026, 3, 10, 11, tzinfo=timezone.utc)]["requests"] == 10
    assert by_hour[datetime(2026, 3, 10, 9, tzinfo=timezone.utc)]["errors"] == 2
    # Latencies: 2.5, 2.5, 10, 20, ..., 100: nearest-rank p50 is the 6th value, p95 the 12th.
    assert data.p50_ms == 40.0 and data.p95_ms == 100.0
    assert [r["label"] for r in data.top_keys] == ["main-key"]
    assert data.top_teams == [{"name": "t1", "label": "Search", "spend": 0.0, "requests": 2}]
    assert [r["name"] for r in data.top_models] == ["cheap", "other"]
    week = queries.overview(db, "7d", now=NOW)
    assert week.requests == 13 and week.unit == "day" and len(week.buckets) == 8


def test_replayed_records_are_rolled_up_once(db):
    rows = [row(i, NOW - timedelta(minutes=i)) for i in range(5)]
    assert fill(db, rows) == 5
    assert SpendDrain(db, "/nonexistent")._store([spool_row(r) for r in rows[2:]]) == 0  # a spool read twice
    data = queries.overview(db, "24h", now=NOW)
    assert data.requests == 5 and data.spend == pytest.approx(0.05)


@pytest.mark.parametrize("latency", [0.0, 0.37, 9.99, 10.0, 57.8, 99.99, 100.0, 345.6, 999.9, 1234.5, 98765.4])
def test_latency_steps_round_down_within_ten_percent(latency):
    step = rollup.latency_step(latency)
    assert step <= latency and (latency - step) <= max(0.1, 0.1 * latency)


def test_the_migration_fills_the_rollups_from_stored_records(request, tmp_path):
    """A database with records from before 0006: the migration's SQL gives what the drain would have."""
    from alembic import command
    from alembic.config import Config
    from importlib import resources

    for dialect in ("sqlite", "postgresql"):
        if dialect == "sqlite":
            database = Database(f"sqlite:///{tmp_path}/old.db")
        else:
            database = Database(services.new_database(request.getfixturevalue("postgres_admin_url"),
                                                      f"ui_{uuid.uuid4().hex[:10]}"))
        config = Config()
        config.set_main_option("script_location", str(resources.files("polyrelay.store") / "migrations"))
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0004")
        rows = [spool_row(row(i, NOW - timedelta(minutes=7 * i), latency_ms=[0.37, 57.8, 345.6, 1234.5, 98765.4][i % 5],
                              status="failure" if i % 3 == 0 else "success", api_key=None if i % 4 == 0 else "k" * 64,
                              team_id="t1" if i % 2 else None)) for i in range(40)]
        with database.engine.begin() as conn:  # the columns 0006 adds are not there yet
            conn.execute(spend_logs.insert(), [{k: v for k, v in r.items() if k not in ("messages", "response")}
                                               for r in rows])
        database.migrate()
        with database.engine.connect() as conn:
            migrated = (sorted(tuple(r) for r in conn.execute(spend_hourly.select())),
                        sorted(tuple(r) for r in conn.execute(latency_hourly.select())))
            conn.execute(spend_hourly.delete())
            conn.execute(latency_hourly.delete())
            from sqlalchemy.dialects import postgresql, sqlite
            rollup.add(conn, postgresql if dialect == "postgresql" else sqlite, rows)
            drained = (sorted(tuple(r) for r in conn.execute(spend_hourly.select())),
                       sorted(tuple(r) for r in conn.execute(latency_hourly.select())))
            conn.rollback()
        assert len(migrated[0]) > 5 and len(migrated[1]) > 5  # the records spread over several hours and steps

        def rounded(groups):  # sums added in another order may differ in the last bit
            return [(*r[:6], round(r[6], 9), r[7]) for r in groups]

        assert rounded(migrated[0]) == rounded(drained[0]), dialect
        assert migrated[1] == drained[1], dialect
        database.dispose()


def test_request_logs_filters_and_pages(db):
    rows = [row(i, NOW - timedelta(minutes=i), status="failure" if i % 4 == 0 else "success",
                team_id="t1" if i % 2 else None, model_group="cheap" if i < 20 else "other") for i in range(30)]
    fill(db, rows)
    everything = queries.request_logs(db, api_key=None, team_id=None, model=None, status=None, start=None,
                                      end=None, after=None, size=50)
    assert len(everything) == 30 and everything[0]["request_id"] == "r00000"
    assert everything[0]["key_alias"] == "main-key"  # joined for the list
    failed = queries.request_logs(db, api_key=None, team_id=None, model=None, status="failure", start=None,
                                  end=None, after=None, size=50)
    assert {r["request_id"] for r in failed} == {f"r{i:05d}" for i in range(0, 30, 4)}
    team = queries.request_logs(db, api_key="k" * 64, team_id="t1", model="other", status="success",
                                start=NOW - timedelta(minutes=25), end=None, after=None, size=50)
    assert {r["request_id"] for r in team} == {"r00021", "r00023", "r00025"}
    first = queries.request_logs(db, api_key=None, team_id=None, model=None, status=None, start=None, end=None,
                                 after=None, size=7)
    after = (first[-1]["start_time"], first[-1]["request_id"])
    second = queries.request_logs(db, api_key=None, team_id=None, model=None, status=None, start=None, end=None,
                                  after=after, size=7)
    assert [r["request_id"] for r in second] == [f"r{i:05d}" for i in range(7, 14)]


def test_percentile_nearest_rank():
    assert queries.percentile([], 0.5) is None
    assert queries.percentile([(1, 1), (2, 1), (3, 1), (4, 1)], 0.5) == 2
    assert queries.percentile([(1, 98), (500, 2)], 0.95) == 1
    assert queries.percentile([(1, 94), (500, 6)], 0.95) == 500


def test_the_ui_on_a_postgresql_gateway(postgres_admin_url):
    url = services.new_database(postgres_admin_url, f"uigw_{uuid.uuid4().hex[:10]}")
    gw = start_gateway(general=f"  database_url: {url}")
    try:
        client = sign_in(gw)
        answer = client.post("/ui/keys/create", data={"csrf_token": csrf(client), "key_alias": "pg-key"})
        secret = re.search(r'id="new-key"[^>]*>(sk-[^<]+)<', answer.text).group(1)
        calls(gw, secret, ok=3, failed=1)
        rows = wait_for_logs(gw, 4)
        assert len(rows) == 4
        overview = client.get("/ui?range=24h").text
        assert re.search(r'id="total-requests">4<', overview) and "25.0%" in overview
        assert "pg-key" in client.get("/ui/keys").text
        logs = client.get("/ui/logs", params={"key": "pg-key", "status": "failure"}).text
        assert logs.count('class="badge bad">failure<') == 1
        for page in ("/ui/users", "/ui/teams", "/ui/customers", "/ui/models", "/ui/runtime",
                     f"/ui/logs/{rows[0]['request_id']}"):
            assert client.get(page).status_code == 200, page
    finally:
        gw.stop()
