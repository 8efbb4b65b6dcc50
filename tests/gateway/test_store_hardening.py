"""Spend recording and storage under a bad day, through real gateway
processes: long names on PostgreSQL, a spool left with a corrupt record,
metadata the spool cannot write, a full disk (simulated), two instances in
one directory, a locked SQLite file, and spend-log filters past page 1."""

from __future__ import annotations

import sqlite3
import textwrap
import time
import uuid
from pathlib import Path

import httpx
import pytest

import services
from conftest import reset
from fakeserver import Reply
from gateway_process import GatewayProcess

MASTER = "sk-master-for-store-tests"
ADMIN = {"Authorization": f"Bearer {MASTER}"}
HELLO = [{"role": "user", "content": "hi"}]
LONG = "u" * 256  # the longest `user` the edge accepts, one more than the VARCHAR(255) columns held

CONFIG = """
model_list:
  - model_name: cheap
    litellm_params: {model: mock/cheap}
    model_info: {input_cost_per_token: 0.001, output_cost_per_token: 0.001}
  - model_name: upstream
    litellm_params: {model: openai/gpt-4o-mini, api_base: os.environ/FAKE_UPSTREAM_BASE, api_key: sk-up}
general_settings:
  master_key: %(master)s
%(extra)s
"""


def config(extra: str = "") -> str:
    return CONFIG % {"master": MASTER, "extra": textwrap.indent(extra, "  ")}


def start(extra: str = "", upstream=None, env: dict[str, str] | None = None) -> GatewayProcess:
    environment = {"FAKE_UPSTREAM_BASE": upstream.url if upstream is not None else "http://127.0.0.1:9"}
    return GatewayProcess(config(extra), env={**environment, **(env or {})}).start()


def admin(gw, path, body=None, method="POST", **params):
    response = httpx.request(method, gw.url + path, json=body, params=params, headers=ADMIN, timeout=15)
    assert response.status_code == 200, response.text
    return response.json()


def chat(gw, key=MASTER, model="cheap", **extra):
    return httpx.post(gw.url + "/v1/chat/completions", json={"model": model, "messages": HELLO, **extra},
                      headers={"Authorization": f"Bearer {key}"}, timeout=20)


def logs(gw, **params):
    return admin(gw, "/spend/logs", method="GET", page_size=1000, **params)


def wait_for(predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def upstream_answer(model: str) -> Reply:
    return Reply(json={"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi!"},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}})


def spool_dirs(base: Path) -> set[Path]:
    """Directories under ``base`` holding a live spool file."""
    return {p.parent for p in base.rglob("spool-*.jsonl")}


# --- issue 12 item 2: one long value stops spend logging on PostgreSQL ----------------------------------


def test_long_names_on_postgresql_never_stop_recording_or_start_up(postgres_admin_url, upstream):
    database = services.new_database(postgres_admin_url, f"gw_{uuid.uuid4().hex[:10]}")
    fake = reset(upstream)
    fake.reply(upstream_answer("m" * 300))  # an upstream naming its model at length
    gw = start(f"database_url: {database}", upstream=fake)
    restarted = None
    try:
        assert chat(gw, user="u" * 300).status_code in (200, 400)  # refused at the edge, or stored (not counted)
        ids = [chat(gw, user=LONG).headers["x-polyrelay-call-id"],
               chat(gw, model="upstream").headers["x-polyrelay-call-id"]]
        ids += [chat(gw).headers["x-polyrelay-call-id"] for _ in range(20)]
        stored = wait_for(lambda: (found := logs(gw)) and set(ids) <= {r["request_id"] for r in found} and found)
        by_id = {r["request_id"]: r for r in stored}
        assert by_id[ids[0]]["end_user"] == LONG and by_id[ids[1]]["model"] == "m" * 300
        assert admin(gw, "/customer/info", method="GET", end_user_id=LONG)["customer_info"]["spend"] > 0
        assert gw.metric("polyrelay_spend_dead_letter_records") == 0
        gw.stop()
        restarted = start(f"database_url: {database}", upstream=fake)  # start-up drains what is left
        again = chat(restarted, user=LONG).headers["x-polyrelay-call-id"]
        wait_for(lambda: logs(restarted, request_id=again))
    finally:
        gw.stop()
        if restarted is not None:
            restarted.stop()


def test_a_corrupt_record_left_in_the_spool_is_set_aside_at_start_up(tmp_path):
    extra = f"database_url: sqlite:///{tmp_path / 'gw.db'}\nspend_spool_dir: {tmp_path / 'spool'}"
    gw = start(extra)
    try:
        chat(gw)
        (spool,) = spool_dirs(tmp_path)
    finally:
        gw.stop()
    # What a process killed as the disk filled up could leave: a cut-short line between two good ones.
    t = time.time()
    good = [f'{{"request_id": "left-{i}", "spend": 0.5, "start_time": {t}, "end_time": {t}, "status": "success"}}'
            for i in range(2)]
    (spool / "spool-99999999-cafecafe.jsonl").write_text(f'{good[0]}\n{{"request_id": "cut-\n{good[1]}\n')
    gw = start(extra)
    try:
        assert {r["request_id"] for r in logs(gw)} >= {"left-0", "left-1"}
        assert gw.metric("polyrelay_spend_dead_letter_records") == 1
        assert "cut-" in (spool / "dead-letters.jsonl").read_text()
        assert chat(gw).status_code == 200
    finally:
        gw.stop()


# --- item 4: metadata the spool cannot write; reservations released on every path --------------------------


def test_deep_metadata_is_billed_and_releases_its_reservation(tmp_path):
    gw = start(f"database_url: sqlite:///{tmp_path / 'gw.db'}")
    try:
        key = admin(gw, "/key/generate", {"max_parallel_requests": 1})["key"]
        deep = node = {}
        for _ in range(300):
            node["a"] = {}
            node = node["a"]
        answered = []
        for stream in (False, True, False, True):
            response = chat(gw, key, metadata=deep, stream=stream)
            # The edge may refuse such metadata (400); if it is answered, it must be recorded.
            assert response.status_code in (200, 400), response.text
            if response.status_code == 200:
                answered.append(response.headers["x-polyrelay-call-id"])
        # max_parallel_requests 1: a reservation left behind by any of those calls would make this a 429.
        after = chat(gw, key)
        assert after.status_code == 200, after.text
        stored = wait_for(lambda: len(found := logs(gw, api_key=key)) == len(answered) + 1 and found)
        for row in stored:
            if row["request_id"] in answered:
                assert row["spend"] > 0 and row["total_tokens"] > 0
                assert row["metadata"]["_polyrelay_metadata"].startswith("not recorded")
    finally:
        gw.stop()


# --- item 17: a full disk (simulated) -------------------------------------------------------------------------

# Loaded by the gateway's Python at start-up (PYTHONPATH): while the trigger
# file exists, writes to spool files fail with ENOSPC, as on a full disk.
# This simulates the error only; free-space checks (statvfs) see the real disk.
DISK_FULL = textwrap.dedent("""
    import errno, os
    _write = os.write
    TRIGGER = os.environ["POLYRELAY_TEST_DISK_FULL"]

    def write(fd, data):
        if os.path.exists(TRIGGER):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                target = ""
            if "/spool-" in target:
                raise OSError(errno.ENOSPC, "No space left on device")
        return _write(fd, data)

    os.write = write
""")


def test_full_disk_answers_503_before_the_provider_is_called(tmp_path, upstream):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(DISK_FULL)
    trigger = tmp_path / "disk-is-full"
    fake = reset(upstream)
    fake.default = upstream_answer("gpt-4o-mini")
    gw = start(f"database_url: sqlite:///{tmp_path / 'gw.db'}", upstream=fake,
               env={"PYTHONPATH": str(hooks), "POLYRELAY_TEST_DISK_FULL": str(trigger)})
    try:
        assert chat(gw, model="upstream").status_code == 200
        trigger.touch()
        first = chat(gw, model="upstream")  # its write fails: answered (it was paid), its record kept in memory
        assert first.status_code == 200, first.text
        ready = httpx.get(gw.url + "/health/readiness")
        assert ready.status_code == 503 and ready.json()["spend_spool"].startswith("not writable")
        called = len(fake.requests)
        refused = chat(gw, model="upstream")
        assert refused.status_code == 503, refused.text
        assert set(refused.json()["error"]) == {"message", "type", "param", "code"}
        assert len(fake.requests) == called  # refused before the provider
        assert gw.metric("polyrelay_spend_spool_writable") == 0
        trigger.unlink()
        wait_for(lambda: httpx.get(gw.url + "/health/readiness").status_code == 200)
        assert chat(gw, model="upstream").status_code == 200
        wait_for(lambda: logs(gw, request_id=first.headers["x-polyrelay-call-id"]))  # written once it could be
    finally:
        gw.stop()


# --- item 23: spend_spool_dir, and two instances in one directory --------------------------------------------


def test_spend_spool_dir_is_honoured_and_each_database_keeps_its_own(tmp_path):
    spool_base = tmp_path / "spools"
    first = f"database_url: sqlite:///{tmp_path / 'a.db'}\nspend_spool_dir: {spool_base}"
    second = f"database_url: sqlite:///{tmp_path / 'b.db'}\nspend_spool_dir: {spool_base}"
    a = start(first)
    try:
        assert "spend_spool_dir is not a setting" not in a.log
        assert chat(a).status_code == 200
        (a_spool,) = spool_dirs(tmp_path)
        assert spool_base in a_spool.parents or a_spool == spool_base
    finally:
        a.stop()
    # As if instance a had been killed with a record still in its spool.
    t = time.time()
    (a_spool / "spool-99999999-0a0a0a0a.jsonl").write_text(
        f'{{"request_id": "a-leftover", "spend": 1.0, "start_time": {t}, "end_time": {t}, "status": "success"}}\n')
    b = start(second)
    try:
        assert chat(b).status_code == 200
        time.sleep(1.5)  # several drain passes
        assert "a-leftover" not in {r["request_id"] for r in logs(b)}  # not b's database
    finally:
        b.stop()
    a = start(first)  # a restarted a stores what its predecessor left
    try:
        assert logs(a, request_id="a-leftover")
    finally:
        a.stop()


# --- item 24: a locked SQLite file ---------------------------------------------------------------------------


def test_locked_sqlite_is_a_503_and_readiness_says_so(tmp_path):
    path = tmp_path / "gw.db"
    gw = start(f"database_url: sqlite:///{path}")
    holder = None
    try:
        ready = httpx.get(gw.url + "/health/readiness").json()
        assert ready["db"] == "connected"
        holder = sqlite3.connect(path, isolation_level=None, timeout=10)
        holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        response = httpx.post(gw.url + "/key/generate", json={}, headers=ADMIN, timeout=30)
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and "locked" in error["message"]
        assert "locked" in httpx.get(gw.url + "/health/readiness").json()["db"]
        assert chat(gw).status_code == 200  # calls go on; their records wait in the spool
        holder.execute("ROLLBACK")
        wait_for(lambda: httpx.get(gw.url + "/health/readiness").json()["db"] == "connected", seconds=15)
        assert httpx.post(gw.url + "/key/generate", json={}, headers=ADMIN).status_code == 200
    finally:
        if holder is not None:
            holder.close()
        gw.stop()


# --- item 28: /spend/logs filters past the first page ------------------------------------------------------------


def test_spend_log_filters_reach_every_page(tmp_path):
    gw = start(f"database_url: sqlite:///{tmp_path / 'gw.db'}")
    try:
        ids = [chat(gw).headers["x-polyrelay-call-id"] for _ in range(130)]
        wait_for(lambda: len(logs(gw)) == 130)
        for request_id in (ids[0], ids[64], ids[-1]):  # the oldest is on page 2 of the newest-first list
            found = admin(gw, "/spend/logs", method="GET", request_id=request_id)
            assert [r["request_id"] for r in found] == [request_id]
        assert len(logs(gw, model="cheap")) == 130 and logs(gw, model="other") == []
    finally:
        gw.stop()


def test_an_upstream_answer_we_cannot_relay_is_still_billed_and_releases_its_reservation(tmp_path, upstream):
    """An answer nested deeper than the JSON writer goes (a provider's
    odd extra field): the client gets an error, but the provider was paid,
    so the call is recorded with its cost, and its reservation is given back."""
    deep = node = {}
    for _ in range(300):
        node["a"] = {}
        node = node["a"]
    fake = reset(upstream)
    answer = upstream_answer("gpt-4o-mini")
    answer.json["extra"] = deep
    fake.reply(answer)
    fake.default = upstream_answer("gpt-4o-mini")
    gw = start(f"database_url: sqlite:///{tmp_path / 'gw.db'}", upstream=fake)
    try:
        key = admin(gw, "/key/generate", {"max_parallel_requests": 1})["key"]
        odd = chat(gw, key, model="upstream")
        after = chat(gw, key, model="upstream")
        assert after.status_code == 200, after.text  # a reservation left behind would make this a 429
        assert odd.status_code >= 500 and set(odd.json()["error"]) >= {"message", "type"}
        stored = wait_for(lambda: len(found := logs(gw, api_key=key)) == 2 and found)
        assert all(row["total_tokens"] == 12 and row["spend"] > 0 for row in stored)
    finally:
        gw.stop()


def test_read_only_sqlite_is_a_503_and_readiness_says_so(tmp_path):
    """Opened read-only (``mode=ro``): what SQLite does for a file the process
    may not write (these tests run as root, which file modes do not stop)."""
    path = tmp_path / "gw.db"
    start(f"database_url: sqlite:///{path}").stop()  # created and migrated
    gw = start(f"database_url: sqlite:///file:{path}?mode=ro&uri=true")
    try:
        wait_for(lambda: "readonly" in httpx.get(gw.url + "/health/readiness").json()["db"])
        response = httpx.post(gw.url + "/key/generate", json={}, headers=ADMIN, timeout=30)
        assert response.status_code == 503, response.text
        assert "readonly" in response.json()["error"]["message"]
    finally:
        gw.stop()


def test_management_metadata_too_deep_to_store_is_a_400(tmp_path):
    gw = start(f"database_url: sqlite:///{tmp_path / 'gw.db'}")
    try:
        deep = node = {}
        for _ in range(900):
            node["a"] = {}
            node = node["a"]
        for path, body in (("/key/generate", {"metadata": deep}), ("/team/new", {"metadata": deep}),
                           ("/user/new", {"metadata": deep})):
            response = httpx.post(gw.url + path, json=body, headers=ADMIN, timeout=15)
            assert response.status_code == 400, (path, response.text)
            assert response.json()["error"]["param"] == "metadata"
        assert admin(gw, "/key/generate", {"metadata": {"app": "ci", "tags": ["a"]}})["metadata"]["app"] == "ci"
    finally:
        gw.stop()


def test_management_values_past_what_the_database_holds_are_400s(postgres_admin_url):
    database = services.new_database(postgres_admin_url, f"gw_{uuid.uuid4().hex[:10]}")
    gw = start(f"database_url: {database}")
    try:
        for path, params, body in (("/spend/logs", {"page": "99999999999999999999"}, None),
                                   ("/key/list", {"page": "99999999999999999999"}, None),
                                   ("/key/generate", {}, {"rpm_limit": 10**30})):
            response = httpx.request("POST" if body else "GET", gw.url + path, params=params, json=body,
                                     headers=ADMIN, timeout=15)
            assert response.status_code == 400, (path, response.text)
        custom = {"key": "sk-chosen-by-the-admin-0001"}
        assert httpx.post(gw.url + "/key/generate", json=custom, headers=ADMIN).status_code == 200
        again = httpx.post(gw.url + "/key/generate", json=custom, headers=ADMIN)  # the same key twice
        assert again.status_code == 400 and again.json()["error"]["code"] == "already_exists", again.text
    finally:
        gw.stop()


def test_a_spool_left_in_the_old_layout_is_stored_after_an_upgrade(tmp_path):
    """Before spools had a directory per database, files sat in
    polyrelay-spool/ itself: the first start of this version stores them."""
    old = tmp_path / "polyrelay-spool"
    old.mkdir()
    t = time.time()
    (old / "spool-99999999-01d01d01.jsonl").write_text(
        f'{{"request_id": "old-layout", "spend": 1.0, "start_time": {t}, "end_time": {t}, "status": "success"}}\n')
    gw = start(f"database_url: sqlite:///{tmp_path / 'gw.db'}")
    try:
        assert logs(gw, request_id="old-layout")
        assert not list(old.glob("spool-99999999-*"))
    finally:
        gw.stop()
