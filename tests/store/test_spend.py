"""The spend spool: batches into the database, totals once, nothing lost
when the process is killed or the database is down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from polyrelay.store.records import Records
from polyrelay.store.spend import SpendWriter


def entry(request_id, key_hash, spend=0.25, **more):
    t = time.time()
    return {"request_id": request_id, "api_key": key_hash, "spend": spend, "start_time": t, "end_time": t,
            "status": "success", "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, **more}


def test_records_land_once_with_totals(db, tmp_path):
    records = Records(db)
    _, key = records.create_key({"user_id": "u", "team_id": "t"})
    records.create("user", {"user_id": "u"})
    records.create("team", {"team_id": "t"})
    writer = SpendWriter(db, tmp_path / "spool")
    writer.open()
    for i in range(5):
        writer.record(entry(f"req-{i}", key["token_hash"], user_id="u", team_id="t", end_user="customer-1"))
    writer.record(entry("req-0", key["token_hash"], user_id="u"))  # a replayed duplicate
    assert writer.flush() == 5
    assert records.get("key", key["token_hash"])["spend"] == 1.25
    assert records.get("user", "u")["spend"] == 1.25 and records.get("team", "t")["spend"] == 1.25
    assert records.get("customer", "customer-1")["spend"] == 1.25  # end users get a row on first spend
    logs = records.spend_logs(api_key=key["token_hash"])
    assert len(logs) == 5 and logs[0]["total_tokens"] == 15


WORKER = textwrap.dedent("""
    import sys, time
    from polyrelay.store.database import Database
    from polyrelay.store.spend import SpendWriter
    db = Database(sys.argv[1])
    writer = SpendWriter(db, sys.argv[2], interval=3600)  # never flushes by itself
    writer.open()
    for i in range(200):
        t = time.time()
        writer.record({"request_id": f"crash-{i}", "api_key": sys.argv[3], "spend": 0.01, "start_time": t,
                       "end_time": t, "status": "success"})
    print("spooled", flush=True)
    time.sleep(60)
""")


def test_kill_9_loses_no_record(db, tmp_path):
    records = Records(db)
    _, key = records.create_key({})
    spool = tmp_path / "spool"
    worker = subprocess.Popen([sys.executable, "-c", WORKER, db.url, str(spool), key["token_hash"]],
                              stdout=subprocess.PIPE, text=True)
    assert worker.stdout.readline().strip() == "spooled"
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    assert records.spend_logs(api_key=key["token_hash"]) == []  # nothing reached the database yet
    survivor = SpendWriter(db, spool)
    survivor.open()  # the next process replays the dead one's spool
    assert len(records.spend_logs(api_key=key["token_hash"], size=1000)) == 200
    assert abs(records.get("key", key["token_hash"])["spend"] - 2.0) < 1e-9
    assert [p.name for p in spool.iterdir()] == [survivor._path.name]


def test_database_outage_keeps_records_in_spool(db, tmp_path):
    records = Records(db)
    _, key = records.create_key({})
    writer = SpendWriter(db, tmp_path / "spool")
    writer.open()
    writer.record(entry("during-outage", key["token_hash"]))
    real_engine = db.engine
    from sqlalchemy import create_engine

    db.engine = create_engine("sqlite:////nonexistent-dir/x.db") if db.is_sqlite else create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:1/none")
    try:
        try:
            writer.flush()
            raise AssertionError("flush should fail while the database is down")
        except AssertionError:
            raise
        except Exception:
            pass
    finally:
        db.engine = real_engine
    assert writer.flush() == 1  # retried later: the record was waiting in the spool
    assert records.spend_logs(api_key=key["token_hash"])[0]["request_id"] == "during-outage"
