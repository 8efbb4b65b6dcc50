"""Budgets and limits under concurrency, in-process and through Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import pytest

from polyrelay import RateLimitError
from polyrelay.router.state import MemoryState, RedisState
from polyrelay.store.ledger import BudgetExceededError, Ledger, Subject
from polyrelay.store.records import now


@pytest.fixture(params=["memory", "redis"])
def state(request):
    if request.param == "memory":
        return MemoryState()
    return RedisState(url=request.getfixturevalue("redis_url"), prefix=f"t{uuid.uuid4().hex}:")


def run_requests(ledger, subject, n, reserve, cost, call_seconds=0.01):
    admitted = refused = 0

    async def one():
        nonlocal admitted, refused
        try:
            admission = await ledger.admit([subject], reserve)
        except BudgetExceededError:
            refused += 1
            return
        admitted += 1
        await asyncio.sleep(call_seconds)  # the provider call
        await ledger.settle(admission, cost, 10)

    async def main():
        await asyncio.gather(*(one() for _ in range(n)))
        return await ledger.live_spend(subject)

    spent = asyncio.run(main())
    return admitted, refused, spent


def test_fifty_concurrent_requests_against_a_budget_for_ten(state):
    ledger = Ledger(state)
    key = Subject("key", uuid.uuid4().hex, max_budget=1.0)
    admitted, refused, spent = run_requests(ledger, key, 50, reserve=0.1, cost=0.1)
    # Reservations let through what fits, plus at most the one that crossed the line.
    assert 10 <= admitted <= 11 and refused == 50 - admitted
    assert spent <= 1.0 + 0.1 + 1e-9


def test_overestimated_reservations_settle_to_real_cost(state):
    ledger = Ledger(state)
    key = Subject("key", uuid.uuid4().hex, max_budget=1.0)
    run_requests(ledger, key, 5, reserve=0.5, cost=0.01)  # in waves: reserve 0.5, pay 0.01
    admitted, _, spent = run_requests(ledger, key, 5, reserve=0.05, cost=0.05)
    assert admitted == 5 and spent < 1.0


def test_spend_seeded_from_database_and_reset_period(state):
    ledger = Ledger(state)
    spent_out = Subject("key", uuid.uuid4().hex, spend=2.0, max_budget=2.0,
                        budget_reset_at=now() + timedelta(days=1))
    with pytest.raises(BudgetExceededError, match="Budget has been exceeded for key"):
        asyncio.run(ledger.admit([spent_out], 0.01))
    next_period = Subject("key", spent_out.ident, spend=2.0, max_budget=2.0, budget_reset_at=now() - timedelta(seconds=1))
    asyncio.run(ledger.admit([next_period], 0.01))  # the period ended: the old spend no longer counts


def test_rpm_and_parallel_limits(state):
    ledger = Ledger(state)
    key = Subject("key", uuid.uuid4().hex, rpm_limit=3)

    async def rpm():
        for _ in range(3):
            await ledger.settle(await ledger.admit([key], 0), 0, 0)
        with pytest.raises(RateLimitError, match="rpm_limit"):
            await ledger.admit([key], 0)

    asyncio.run(rpm())
    busy = Subject("user", uuid.uuid4().hex, max_parallel_requests=2)

    async def parallel():
        first, second = await ledger.admit([busy], 0), await ledger.admit([busy], 0)
        with pytest.raises(RateLimitError, match="max_parallel_requests"):
            await ledger.admit([busy], 0)
        await ledger.settle(first, 0, 0)
        await ledger.settle(await ledger.admit([busy], 0), 0, 0)
        await ledger.settle(second, 0, 0)

    asyncio.run(parallel())


def test_a_refusal_by_one_subject_undoes_the_others(state):
    ledger = Ledger(state)
    key = Subject("key", uuid.uuid4().hex, max_parallel_requests=1)
    team = Subject("team", uuid.uuid4().hex, max_budget=0.0)

    async def go():
        with pytest.raises(BudgetExceededError, match="team"):
            await ledger.admit([key, team], 0.01)
        return await ledger.admit([key], 0.01)  # the key's parallel slot was given back

    asyncio.run(go())


class CountingState:
    """The state the ledger is given, counting the round trips it makes."""

    def __init__(self, inner):
        self.inner, self.trips = inner, 0

    def __getattr__(self, name):
        method = getattr(self.inner, name)

        async def counted(*args, **kwargs):
            self.trips += 1
            return await method(*args, **kwargs)

        return counted


def test_admit_and_settle_are_one_round_trip_each(state):
    counting = CountingState(state)
    ledger = Ledger(counting)
    key = Subject("key", uuid.uuid4().hex, max_budget=5.0, rpm_limit=100, tpm_limit=100_000, max_parallel_requests=10)
    team = Subject("team", uuid.uuid4().hex, max_budget=50.0, rpm_limit=1000)

    async def go():
        await ledger.settle(await ledger.admit([key, team], 0.01, 50), 0.01, 20)  # the first seeds the spend
        counting.trips = 0
        admission = await ledger.admit([key, team], 0.01, 50)
        admitted = counting.trips
        await ledger.settle(admission, 0.02, 20)
        return admitted, counting.trips - admitted, await ledger.live_spend(key), await ledger.live_spend(team)

    admitted, settled, key_spend, team_spend = asyncio.run(go())
    assert (admitted, settled) == (1, 1)
    assert key_spend == pytest.approx(0.03) and team_spend == pytest.approx(0.03)


def test_a_refused_request_counts_for_the_rpm_checked_before_it_only(state):
    ledger = Ledger(state)
    key = Subject("key", uuid.uuid4().hex, rpm_limit=10)
    team = Subject("team", uuid.uuid4().hex, max_budget=0.0, rpm_limit=10)

    async def go():
        with pytest.raises(BudgetExceededError):
            await ledger.admit([key, team], 0.01)
        minute = int(time.time() // 60)
        return await state.get_many([f"rpm:key:{key.ident}:{minute}", f"rpm:team:{team.ident}:{minute}",
                                     f"resv:team:{team.ident}"])

    key_rpm, team_rpm, team_reserved = asyncio.run(go())
    # As with one subject checked at a time: the key's request was counted, then the team
    # refused on its budget (its own rpm, checked before its budget, counted too).
    assert key_rpm == 1 and team_rpm == 1 and not team_reserved

    spent_key = Subject("key", uuid.uuid4().hex, max_budget=0.0, rpm_limit=10)
    later = Subject("team", uuid.uuid4().hex, rpm_limit=10)

    async def refused_first():
        with pytest.raises(BudgetExceededError):
            await ledger.admit([spent_key, later], 0.01)
        minute = int(time.time() // 60)
        return await state.get_many([f"rpm:key:{spent_key.ident}:{minute}", f"rpm:team:{later.ident}:{minute}"])

    key_rpm, later_rpm = asyncio.run(refused_first())
    assert key_rpm == 1 and not later_rpm  # the team was never reached: its count given back
