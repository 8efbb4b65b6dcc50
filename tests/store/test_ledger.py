"""Budgets and limits under concurrency, in-process and through Redis."""

from __future__ import annotations

import asyncio
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
