"""Spend recording cannot be stopped by what one call carried: long names,
metadata nested too deep or too large, a record the database refuses, a
line cut short. Each runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import errno
import os
import time

import orjson

from polyrelay.store.records import Records
from polyrelay.store.spend import SpendDrain, SpendSpool

DEAD_LETTERS = "dead-letters.jsonl"
METADATA_MAX_BYTES = 16 << 10  # documented in docs/keys.md


def count_dead_letters(spool_dir):
    path = spool_dir / DEAD_LETTERS
    return len(path.read_bytes().splitlines()) if path.exists() else 0

LONG = "u" * 300  # over the VARCHAR(255) the columns had


def entry(request_id, key_hash, spend=0.25, **more):
    t = time.time()
    return {"request_id": request_id, "api_key": key_hash, "spend": spend, "start_time": t, "end_time": t,
            "status": "success", "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, **more}


def nested(depth):
    root = node = {}
    for _ in range(depth):
        node["a"] = {}
        node = node["a"]
    return root


def test_long_names_are_stored(db, tmp_path):
    records = Records(db)
    _, key = records.create_key({"key_alias": LONG})  # admin-chosen names fit too
    records.create("team", {"team_id": LONG, "team_alias": LONG})
    spool = SpendSpool(tmp_path / "spool")
    spool.open()
    spool.record(entry("long-1", key["token_hash"], end_user=LONG, team_id=LONG, model=LONG, model_group=LONG,
                       model_id=LONG, provider=LONG))
    for i in range(20):
        spool.record(entry(f"after-{i}", key["token_hash"]))
    drain = SpendDrain(db, tmp_path / "spool", owner_pid=os.getpid())
    assert drain.drain() == 21
    (row,) = records.spend_logs(request_id="long-1")
    assert row["end_user"] == LONG and row["model"] == LONG and row["model_group"] == LONG
    assert records.get("customer", LONG)["spend"] == 0.25
    assert records.get("team", LONG)["spend"] == 0.25
    assert count_dead_letters(tmp_path / "spool") == 0


def test_a_record_the_database_refuses_is_set_aside_and_the_drain_goes_on(db, tmp_path):
    """A crashed process's spool with a line cut short in the middle (a disk
    that filled up), a line that is no record, and one whose start time is
    not a date: those three are set aside, every other record is stored."""
    records = Records(db)
    _, key = records.create_key({})
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    lines = [orjson.dumps(entry(f"ok-{i}", key["token_hash"])) for i in range(10)]
    lines.insert(3, b'{"request_id": "cut-sh')
    lines.insert(6, b'[1, 2, 3]')
    lines.insert(8, orjson.dumps({**entry("bad-time", key["token_hash"]), "start_time": "yesterday"}))
    (spool_dir / "spool-99999999-deadbeef.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    drain = SpendDrain(db, spool_dir)
    assert drain.drain() == 10
    assert count_dead_letters(spool_dir) == 3
    assert abs(records.get("key", key["token_hash"])["spend"] - 2.5) < 1e-9
    kept = [orjson.loads(line) for line in (spool_dir / DEAD_LETTERS).read_bytes().splitlines()]
    assert kept[0]["line"] == '{"request_id": "cut-sh' and "unreadable" in kept[0]["reason"]
    assert [p.name for p in spool_dir.iterdir()] == [DEAD_LETTERS]  # the spool itself was stored and removed


def test_deep_metadata_is_recorded_with_a_marker(db, tmp_path):
    records = Records(db)
    _, key = records.create_key({})
    spool = SpendSpool(tmp_path / "spool")
    spool.open()
    spool.record(entry("deep", key["token_hash"], metadata=nested(300)))  # orjson's limit is 254
    SpendDrain(db, tmp_path / "spool", owner_pid=os.getpid()).drain()
    (row,) = records.spend_logs(request_id="deep")
    assert row["spend"] == 0.25 and row["total_tokens"] == 15  # cost and tokens kept
    assert row["metadata"]["_polyrelay_metadata"].startswith("not recorded")


def test_stored_metadata_is_capped(db, tmp_path):
    records = Records(db)
    _, key = records.create_key({})
    spool = SpendSpool(tmp_path / "spool")
    spool.open()
    big = {"blob": "x" * (2 << 20)}
    small = {"app": "ci", "tags": ["a", "b"]}
    spool.record(entry("big", key["token_hash"], metadata=big))
    spool.record(entry("small", key["token_hash"], metadata=small))
    assert spool.path.stat().st_size < METADATA_MAX_BYTES + 8192  # the spool never held the 2 MB either
    SpendDrain(db, tmp_path / "spool", owner_pid=os.getpid()).drain()
    (row,) = records.spend_logs(request_id="big")
    assert row["metadata"]["_polyrelay_metadata"] == "truncated"
    assert row["metadata"]["bytes"] > 2 << 20 and row["metadata"]["preview"].startswith('{"blob":"xxx')
    assert records.spend_logs(request_id="small")[0]["metadata"] == small


def test_a_failed_write_keeps_the_line_and_marks_the_spool(db, tmp_path, monkeypatch):
    """ENOSPC simulated by making os.write fail (a real full disk needs a
    mount): the record is kept in memory, the spool says it cannot be
    written, and check() writes it once the disk takes writes again."""
    records = Records(db)
    _, key = records.create_key({})
    spool = SpendSpool(tmp_path / "spool")
    spool.open()
    real_write = os.write

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    spool.record(entry("while-full", key["token_hash"]))
    assert not spool.writable and "No space left" in spool.problem
    assert not spool.check()  # still full
    monkeypatch.setattr(os, "write", real_write)
    assert spool.check() and spool.writable
    SpendDrain(db, tmp_path / "spool", owner_pid=os.getpid()).drain()
    assert records.spend_logs(request_id="while-full")[0]["spend"] == 0.25


def test_spend_logs_filters_run_in_the_database(db, tmp_path):
    records = Records(db)
    _, key = records.create_key({})
    spool = SpendSpool(tmp_path / "spool")
    spool.open()
    for i in range(250):
        spool.record(entry(f"r-{i}", key["token_hash"], model_group="a" if i % 2 else "b"))
    SpendDrain(db, tmp_path / "spool", owner_pid=os.getpid()).drain()
    assert [r["request_id"] for r in records.spend_logs(request_id="r-0")] == ["r-0"]  # far past page 1
    assert len(records.spend_logs(model="a", size=1000)) == 125
    assert len(records.spend_logs(model="a", page=2, size=100)) == 25


def test_a_batch_the_database_refuses_is_stored_row_by_row(db, tmp_path):
    """PostgreSQL refuses a 20 kB random end user (too big for its index):
    those three records are set aside, the other 30 of their batch are
    stored. SQLite takes them."""
    records = Records(db)
    _, key = records.create_key({})
    spool = SpendSpool(tmp_path / "spool")
    spool.open()
    huge = os.urandom(10_000).hex()  # random: not compressible below the index limit
    for i in range(30):
        spool.record(entry(f"b-{i}", key["token_hash"], end_user="someone"))
        if i in (3, 14, 27):
            spool.record(entry(f"huge-{i}", key["token_hash"], end_user=huge + str(i)))
    drain = SpendDrain(db, tmp_path / "spool", owner_pid=os.getpid())
    refused = db.dialect == "postgresql"
    assert drain.drain() == (30 if refused else 33)
    assert count_dead_letters(tmp_path / "spool") == (3 if refused else 0)
    if refused:
        assert (tmp_path / "spool" / DEAD_LETTERS).stat().st_mode & 0o777 == 0o600  # records carry metadata
    assert abs(records.get("key", key["token_hash"])["spend"] - (30 if refused else 33) * 0.25) < 1e-9
    assert records.get("customer", "someone")["spend"] == 30 * 0.25
    assert drain.drain() == 0  # nothing left to retry: the drain is not stuck


def test_metadata_just_over_the_cap_is_cut_and_just_under_is_kept(tmp_path):
    spool = SpendSpool(tmp_path / "spool")
    spool.open()
    over = {"blob": "x" * METADATA_MAX_BYTES}
    under = {"blob": "x" * (METADATA_MAX_BYTES - 100)}
    spool.record(entry("over", "k", metadata=over))
    spool.record(entry("under", "k", metadata=under))
    first, second = (orjson.loads(line) for line in spool.path.read_bytes().splitlines())
    assert first["metadata"]["_polyrelay_metadata"] == "truncated"
    assert second["metadata"] == under


def test_too_little_free_space_marks_the_spool_before_any_write_fails(tmp_path):
    """The periodic check reads the real free space (statvfs); a threshold
    above it stands in for a nearly full disk."""
    spool = SpendSpool(tmp_path / "spool", min_free_bytes=1 << 62)
    spool.open()
    assert not spool.check() and not spool.writable and "bytes free" in spool.problem
    spool.min_free_bytes = 0
    assert spool.check() and spool.writable and spool.problem is None
