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
from polyrelay.store.spend import SpendDrain, SpendSpool


def entry(request_id, key_hash, spend=0.25, **more):
    t = time.time()
    return {"request_id": request_id, "api_key": key_hash, "spend": spend, "start_time": t, "end_time": t,
            "status": "success", "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, **more}


def test_records_land_once_with_totals(db, tmp_path):
    records = Records(db)
    _, key = records.create_key({"user_id": "u", "team_id": "t"})
    records.create("user", {"user_id": "u"})
    records.create("team", {"team_id": "t"})
    spool = SpendSpool(tmp_path / "spool")
    spool.open()
    for i in range(5):
        spool.record(entry(f"req-{i}", key["token_hash"], user_id="u", team_id="t", end_user="customer-1"))
    spool.record(entry("req-0", key["token_hash"], user_id="u"))  # a replayed duplicate
    drain = SpendDrain(db, tmp_path / "spool", owner_pid=os.getpid())
    assert drain.drain() == 5
    assert drain.drain() == 0  # followed from where it stopped: nothing twice
    assert records.get("key", key["token_hash"])["spend"] == 1.25
    assert records.get("user", "u")["spend"] == 1.25 and records.get("team", "t")["spend"] == 1.25
    assert records.get("customer", "customer-1")["spend"] == 1.25  # end users get a row on first spend
    logs = records.spend_logs(api_key=key["token_hash"])
    assert len(logs) == 5 and logs[0]["total_tokens"] == 15


WORKER = textwrap.dedent("""
    import sys, time
    from polyrelay.store.spend import SpendSpool
    spool = SpendSpool(sys.argv[2])  # no drain: only the spool holds the records
    spool.open()
    for i in range(200):
        t = time.time()
        spool.record({"request_id": f"crash-{i}", "api_key": sys.argv[3], "spend": 0.01, "start_time": t,
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
    assert SpendDrain(db, spool).drain() == 200  # the next drain takes over the dead process's spool
    assert len(records.spend_logs(api_key=key["token_hash"], size=1000)) == 200
    assert abs(records.get("key", key["token_hash"])["spend"] - 2.0) < 1e-9
    assert list(spool.iterdir()) == []  # stored, then removed


def test_database_outage_keeps_records_in_spool(db, tmp_path):
    records = Records(db)
    _, key = records.create_key({})
    spool = SpendSpool(tmp_path / "spool")
    spool.open()
    spool.record(entry("during-outage", key["token_hash"]))
    drain = SpendDrain(db, tmp_path / "spool", owner_pid=os.getpid())
    real_engine = db.engine
    from sqlalchemy import create_engine

    db.engine = create_engine("sqlite:////nonexistent-dir/x.db") if db.is_sqlite else create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:1/none")
    try:
        try:
            drain.drain()
            raise AssertionError("drain should fail while the database is down")
        except AssertionError:
            raise
        except Exception:
            pass
    finally:
        db.engine = real_engine
    assert drain.drain() == 1  # retried later: the record was waiting in the spool
    assert records.spend_logs(api_key=key["token_hash"])[0]["request_id"] == "during-outage"


def test_rotation_hands_whole_files_to_the_drain(db, tmp_path):
    records = Records(db)
    _, key = records.create_key({})
    spool = SpendSpool(tmp_path / "spool", rotate_at=1000)  # a few records per file
    spool.open()
    for i in range(40):
        spool.record(entry(f"rot-{i}", key["token_hash"]))
    assert len(list((tmp_path / "spool").iterdir())) > 3
    drain = SpendDrain(db, tmp_path / "spool", owner_pid=os.getpid())
    assert drain.drain() == 40
    assert [p.name for p in (tmp_path / "spool").iterdir()] == [spool.path.name]  # rotated-out files removed
    for i in range(40, 45):
        spool.record(entry(f"rot-{i}", key["token_hash"]))
    assert drain.drain() == 5
    assert abs(records.get("key", key["token_hash"])["spend"] - 45 * 0.25) < 1e-9


def test_drain_process_follows_the_live_spool_and_finishes_at_close(db, tmp_path):
    import asyncio

    from polyrelay.store.spend import DrainProcess

    records = Records(db)
    _, key = records.create_key({})
    spool_dir = tmp_path / "spool"

    async def scenario():
        spool = SpendSpool(spool_dir)
        spool.open()
        drain = DrainProcess(db, spool_dir, interval=0.1)
        drain.start()
        assert drain._child is not None  # a file database: drained by a child process
        for i in range(10):
            spool.record(entry(f"live-{i}", key["token_hash"]))
        deadline = time.monotonic() + 20
        while len(records.spend_logs(api_key=key["token_hash"], size=100)) < 10:
            assert time.monotonic() < deadline, "the drain process did not store the live spool"
            await asyncio.sleep(0.05)
        for i in range(10, 15):
            spool.record(entry(f"live-{i}", key["token_hash"]))
        await drain.close(spool)
        return drain._child.returncode

    assert asyncio.run(scenario()) == 0
    assert len(records.spend_logs(api_key=key["token_hash"], size=100)) == 15
    assert list(spool_dir.iterdir()) == []
