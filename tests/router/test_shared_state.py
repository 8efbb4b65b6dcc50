"""Two Router processes sharing one real Redis: rpm counters and cooldowns
are seen by both. And Redis going away degrades to local state, never a
failed request."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import uuid

import pytest

import polyrelay
from polyrelay.router import MemoryState, RedisState, Router

MESSAGES = [{"role": "user", "content": "hi"}]

WORKER = r"""
import collections, json, sys
import polyrelay
config, calls = json.loads(sys.argv[1]), int(sys.argv[2])
router = polyrelay.Router(**config)
served, refused = collections.Counter(), 0
for _ in range(calls):
    try:
        served[router.completion(model="g", messages=[{"role": "user", "content": "hi"}])._hidden_params["model_id"]] += 1
    except polyrelay.RateLimitError:
        refused += 1
print(json.dumps({"served": served, "refused": refused}))
"""


def run_worker(config: dict, calls: int) -> dict:
    done = subprocess.run([sys.executable, "-c", WORKER, json.dumps(config), str(calls)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def away_from_minute_edge() -> None:
    # rpm counters are per calendar minute: don't straddle a boundary.
    if time.time() % 60 > 55:
        time.sleep(60 - time.time() % 60 + 0.1)


def test_two_processes_share_one_rpm_limit(redis_url):
    away_from_minute_edge()
    ident = uuid.uuid4().hex
    config = {"model_list": [{"model_name": "g", "litellm_params": {"model": "mock/a", "rpm": 5},
                              "model_info": {"id": ident}}], "redis_url": redis_url, "num_retries": 0}
    first, second = run_worker(config, 3), run_worker(config, 3)
    assert first == {"served": {ident: 3}, "refused": 0}
    assert second == {"served": {ident: 2}, "refused": 1}


def test_two_processes_share_cooldowns(redis_url):
    bad, good = uuid.uuid4().hex, uuid.uuid4().hex
    entries = [{"model_name": "g", "litellm_params": {"model": "mock/x", "mock_status": 429}, "model_info": {"id": bad}},
               {"model_name": "g", "litellm_params": {"model": "mock/y"}, "model_info": {"id": good}}]
    config = {"model_list": entries, "redis_url": redis_url, "num_retries": 1, "cooldown_time": 30, "seed": 1}
    run_worker(config, 5)  # somewhere in these, the 429 deployment is picked and cooled down
    # The second process's copy of "x" is healthy, but Redis says it is cooling: it gets nothing.
    healthy = {**config, "model_list": [{**entries[0], "litellm_params": {"model": "mock/x"}}, entries[1]]}
    assert run_worker(healthy, 10) == {"served": {good: 10}, "refused": 0}


def test_cooldowns_in_redis_are_read_once_a_second_and_our_own_seen_at_once(redis_url, monkeypatch):
    """Routing on cooldowns alone, a Router sharing Redis reads them once per
    SHARED_COOLDOWN_READ_SECONDS, not once a call; another instance's cooldown is
    honoured after that, this process's own from the next call."""
    import asyncio

    from polyrelay.router import router as router_module

    monkeypatch.setattr(router_module, "SHARED_COOLDOWN_READ_SECONDS", 0.3)
    one, two = uuid.uuid4().hex, uuid.uuid4().hex
    prefix = f"t{uuid.uuid4().hex}:"
    state = RedisState(url=redis_url, prefix=prefix)
    reads = []
    real_get_many = state.get_many

    async def counted_get_many(keys):
        reads.append(keys)
        return await real_get_many(keys)

    state.get_many = counted_get_many
    router = Router(model_list=[
        {"model_name": "g", "litellm_params": {"model": "mock/x"}, "model_info": {"id": one}},
        {"model_name": "g", "litellm_params": {"model": "mock/y"}, "model_info": {"id": two}}],
        state=state, seed=3, num_retries=0)

    async def served(calls: int) -> set:
        return {(await router.acompletion("g", MESSAGES))._hidden_params["model_id"] for _ in range(calls)}

    async def go():
        first = await served(20)
        reads_for_twenty = len(reads)
        other = RedisState(url=redis_url, prefix=prefix)  # another gateway instance cools `one`
        await other.set(f"cool:{one}", 1, 30)
        await asyncio.sleep(0.35)
        after = await served(20)
        await other.delete(f"cool:{one}")
        await router._cool(router._table.deployments[1], polyrelay.RateLimitError("429"))  # ours: `two`
        ours = await served(10)
        await other.aclose()
        await state.aclose()
        return first, reads_for_twenty, after, ours

    first, reads_for_twenty, after, ours = asyncio.run(go())
    assert first == {one, two} and reads_for_twenty == 1
    assert after == {two} and ours == {one}


def test_redis_state_round_trips(redis_url):
    import asyncio

    state = RedisState(url=redis_url, prefix=f"t{uuid.uuid4().hex}:")

    async def go():
        assert await state.incr("k", 2, 10) == 2
        assert await state.incr("k", 1.5, 10) == 3.5
        await state.set("v", 0.25, 10)
        await state.set("gone", 1, 0.05)
        await asyncio.sleep(0.1)
        values = await state.get_many(["k", "v", "gone", "missing"])
        await state.aclose()
        return values

    assert asyncio.run(go()) == [3.5, 0.25, None, None]


def test_apply_reads_then_counts_with_expiry_in_one_command_and_outlives_a_script_flush(redis_url):
    """``apply`` is one Lua script: reads before increments, missing keys as None anywhere in
    the reply, a time-to-live given once; after a restart forgot the script it is loaded again."""
    import asyncio

    import redis.asyncio as redis

    prefix = f"t{uuid.uuid4().hex}:"
    state = RedisState(url=redis_url, prefix=prefix)

    async def go():
        admin = redis.Redis.from_url(redis_url)
        first = await state.apply(["missing", "c"], [("c", 2, 30), ("d", -0.5, 30)])
        ttl = await admin.ttl(prefix + "c")
        await admin.expire(prefix + "c", 1000)
        await admin.script_flush()  # what a Redis restart does to loaded scripts
        second = await state.apply(["c", "missing", "d"], [("c", 1e-5, 30)])
        kept_ttl = await admin.ttl(prefix + "c")  # EXPIRE NX: not shortened by the later increment
        await state.aclose()
        await admin.aclose()
        return first, ttl, second, kept_ttl

    first, ttl, second, kept_ttl = asyncio.run(go())
    assert first == ([None, None], [2.0, -0.5]) and 0 < ttl <= 30
    assert second == ([2.0, None, -0.5], [pytest.approx(2.00001)]) and kept_ttl > 30


def test_increments_asked_for_in_one_loop_turn_share_one_round_trip(redis_url):
    """Settlements of concurrent calls go to Redis together; each caller still gets the
    values after its own increments, in the order they were asked for."""
    import asyncio

    state = RedisState(url=redis_url, prefix=f"t{uuid.uuid4().hex}:")
    sent = []
    apply_now = state._apply_now

    async def counted(reads, incrs):
        sent.append(len(incrs))
        return await apply_now(reads, incrs)

    state._apply_now = counted

    async def go():
        results = await asyncio.gather(*(state.apply([], [("shared", 1, 30), (f"own{i}", i, 30)]) for i in range(50)))
        alone = await state.incr("shared", 0.5, 30)
        await state.aclose()
        return results, alone

    results, alone = asyncio.run(go())
    assert sent == [100, 1]  # fifty callers' increments in one script call, then the lone one
    assert [values for _, values in results] == [[float(i + 1), float(i)] for i in range(50)]
    assert alone == 50.5


def test_redis_down_degrades_to_local_state(caplog):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    router = Router(model_list=[{"model_name": "g", "litellm_params": {"model": "mock/a", "rpm": 2}}],
                    redis_host="127.0.0.1", redis_port=port, num_retries=0)
    with caplog.at_level(logging.WARNING, logger="polyrelay.router"):
        assert router.completion(model="g", messages=MESSAGES).choices[0].message.content
        assert router.completion(model="g", messages=MESSAGES).choices[0].message.content
        with pytest.raises(polyrelay.RateLimitError):  # limits still hold, per process
            router.completion(model="g", messages=MESSAGES)
    warnings = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(warnings) == 1  # said once, not per request


def test_memory_state_expires():
    import asyncio

    clock = [0.0]
    state = MemoryState(clock=lambda: clock[0])

    async def go():
        await state.incr("a", 1, 10)
        clock[0] = 9.9
        first = await state.get_many(["a"])
        clock[0] = 10.1
        return first, await state.get_many(["a"])

    assert asyncio.run(go()) == ([1], [None])


def test_a_redis_restart_is_one_outage_not_a_flapping_one(monkeypatch):
    """Restarted Redis: every pooled connection is dead. Once Redis answers
    again, the shared state must be used at once by every concurrent caller —
    not fail once per stale connection, each failure putting the instance back
    on its own counters for another REDIS_RETRY_SECONDS (found by the fault
    drill: rpm limits held per instance for ~10 s after Redis was back)."""
    import asyncio

    from polyrelay.router import state as state_module
    from services import RedisServer

    redis = RedisServer().start()
    state = RedisState(url=redis.url, prefix=f"t{uuid.uuid4().hex}:")

    async def concurrently(n: int) -> list[float]:
        return await asyncio.gather(*(state.incr("rpm", 1, 60) for _ in range(n)))

    async def go():
        await concurrently(12)  # a pool of several connections, all to the Redis about to go
        assert await state.get_many(["rpm"]) == [12.0]
        await asyncio.to_thread(redis.stop)
        await state.incr("rpm", 1, 60)  # noticed: local state until Redis is back
        assert state._degraded
        await asyncio.to_thread(redis.start)
        monkeypatch.setattr(state_module, "REDIS_RETRY_SECONDS", 0.0)
        state._retry_at = 0.0  # time to try Redis again
        counts = await concurrently(12)
        shared = await state.get_many(["rpm"])
        await state.aclose()
        return counts, shared

    try:
        counts, shared = asyncio.run(go())
    finally:
        redis.close()
    assert not state._degraded
    assert sorted(counts) == [float(n) for n in range(1, 13)]  # all twelve counted in the (new, empty) Redis
    assert shared == [12.0]
