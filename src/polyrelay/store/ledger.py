"""Budgets and rate limits, enforced before any provider is called.

Everything the check needs is in the router's ``State`` (in-process, or
Redis so several gateway instances share it): live spend per key, user,
team and end user for the current budget period, in-flight reservations,
requests and tokens per minute, and parallel requests. No database read.

Budgets hold under concurrency by reservation: a request reserves its
maximum cost before the call and settles to the real cost after. A request
is admitted only while ``spend + what others have reserved`` is below the
budget, so concurrent requests can overshoot by at most one request's cost,
not by their number.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from ..errors import BadRequestError, RateLimitError
from ..router.state import State

RESERVATION_TTL = 900.0  # a reservation whose request never settled (crash) expires
SPEND_TTL = 86400.0 * 40  # live spend counters outlast the longest budget period LiteLLM users set


class BudgetExceededError(BadRequestError):
    """The key's, user's, team's or end user's budget is spent."""

    openai_type = "budget_exceeded"


@dataclass(slots=True)
class Subject:
    """Something with a budget or limits: a key, a user, a team or an end user."""

    kind: str  # "key" | "user" | "team" | "customer"
    ident: str
    spend: float = 0.0  # as the database last knew it
    max_budget: float | None = None
    budget_reset_at: datetime | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    max_parallel_requests: int | None = None
    soft_budget: float | None = None  # past this, an alert; never a refusal

    @classmethod
    def from_row(cls, kind: str, ident: str, row: dict[str, Any]) -> "Subject":
        return cls(kind, ident, float(row.get("spend") or 0.0), row.get("max_budget"), row.get("budget_reset_at"),
                   row.get("rpm_limit"), row.get("tpm_limit"), row.get("max_parallel_requests"),
                   row.get("soft_budget"))

    @property
    def period(self) -> str:
        return str(int(self.budget_reset_at.timestamp())) if self.budget_reset_at else "all"

    def label(self) -> str:
        return {"key": "key", "user": "user", "team": "team", "customer": "end user",
                "key_model": "key (per model)", "org": "organization",
                "team_member": "team member (max_budget_in_team)",
                "global": "the gateway (litellm_settings.max_budget)"}[self.kind]


@dataclass(slots=True)
class Admission:
    subjects: list[Subject]
    reserved: float
    undo: list[tuple[str, float, float]] = field(default_factory=list)  # (key, amount, ttl) to reverse on settle


def _minute() -> int:
    return int(time.time() // 60)


class Ledger:
    def __init__(self, state: State, on_soft_budget: Callable[[Subject, float], None] | None = None) -> None:
        self.state = state
        # Called once when a settled call takes a subject's spend past its soft_budget
        # (the atomic increment tells exactly one instance that it crossed).
        self.on_soft_budget = on_soft_budget

    def _spend_key(self, s: Subject) -> str:
        return f"spend:{s.kind}:{s.ident}:{s.period}"

    async def live_spend(self, s: Subject) -> float:
        """Spend this period: the live counter, seeded from the database the first time."""
        (value,) = await self.state.get_many([self._spend_key(s)])
        if value is None:
            expired = s.budget_reset_at is not None and s.budget_reset_at.timestamp() <= time.time()
            value = await self.state.seed(self._spend_key(s), 0.0 if expired else s.spend, SPEND_TTL)
        return value

    async def admit(self, subjects: list[Subject], reserve: float, reserve_tokens: int = 0) -> Admission:
        reserve = max(0.0, reserve)  # a reservation never hands budget back
        reserve_tokens = max(0, reserve_tokens)
        admission = Admission(subjects, reserve)
        try:
            for s in subjects:
                await self._admit_one(s, reserve, reserve_tokens, admission)
        except Exception:
            await self._reverse(admission)
            raise
        return admission

    async def _admit_one(self, s: Subject, reserve: float, reserve_tokens: int, admission: Admission) -> None:
        minute = _minute()
        if s.max_parallel_requests is not None:
            running = await self._take(admission, f"par:{s.kind}:{s.ident}", 1, RESERVATION_TTL)
            if running > s.max_parallel_requests:
                raise RateLimitError(f"{s.label()} {s.ident!r} is at its max_parallel_requests "
                                     f"({s.max_parallel_requests})", headers={"retry-after": "1"})
        if s.rpm_limit is not None:
            count = await self._take(admission, f"rpm:{s.kind}:{s.ident}:{minute}", 1, 120, reverse=False)
            if count > s.rpm_limit:
                await self.state.incr(f"rpm:{s.kind}:{s.ident}:{minute}", -1, 120)
                raise RateLimitError(f"{s.label()} {s.ident!r} reached its rpm_limit ({s.rpm_limit} requests "
                                     "per minute)", headers={"retry-after": str(60 - int(time.time()) % 60)})
        if s.tpm_limit is not None:
            # Like budgets: the tokens a call may use are reserved while it runs, so
            # concurrent calls overshoot the limit by at most one call, not by their number.
            (used,) = await self.state.get_many([f"tpm:{s.kind}:{s.ident}:{minute}"])
            reserved = await self._take(admission, f"tpmr:{s.kind}:{s.ident}", reserve_tokens, RESERVATION_TTL)
            others = max(0, reserved - reserve_tokens)
            if (used or 0) + others >= s.tpm_limit:
                raise RateLimitError(f"{s.label()} {s.ident!r} reached its tpm_limit ({s.tpm_limit} tokens "
                                     f"per minute; {others} reserved by requests in flight)",
                                     headers={"retry-after": str(60 - int(time.time()) % 60)})
        if s.max_budget is not None:
            spent = await self.live_spend(s)
            reserved = await self._take(admission, f"resv:{s.kind}:{s.ident}", reserve, RESERVATION_TTL)
            others = max(0.0, reserved - reserve)  # what requests already in flight have claimed
            if spent + others >= s.max_budget - 1e-12:
                raise BudgetExceededError(
                    f"Budget has been exceeded for {s.label()} {s.ident!r}: spend {spent:.6f} "
                    f"(+{others:.6f} reserved by requests in flight) of max_budget {s.max_budget}",
                    code="budget_exceeded")

    async def _take(self, admission: Admission, key: str, amount: float, ttl: float, reverse: bool = True) -> float:
        value = await self.state.incr(key, amount, ttl)
        if reverse:
            admission.undo.append((key, amount, ttl))
        return value

    async def _reverse(self, admission: Admission) -> None:
        for key, amount, ttl in admission.undo:
            await self.state.incr(key, -amount, ttl)
        admission.undo.clear()

    async def release(self, admission: Admission) -> None:
        """Give the reservation back: the call was never made."""
        await self._reverse(admission)

    async def settle(self, admission: Admission, cost: float, tokens: int) -> None:
        """Release the reservation and count what the call really cost."""
        cost = max(0.0, cost)
        await self._reverse(admission)
        minute = _minute()
        for s in admission.subjects:
            if cost and (s.max_budget is not None or s.soft_budget is not None):
                await self.live_spend(s)  # seeded before adding, or the seed would be skipped
                spent = await self.state.incr(self._spend_key(s), cost, SPEND_TTL)
                if s.soft_budget is not None and spent - cost < s.soft_budget <= spent and self.on_soft_budget:
                    self.on_soft_budget(s, spent)
            if tokens and s.tpm_limit is not None:
                await self.state.incr(f"tpm:{s.kind}:{s.ident}:{minute}", tokens, 120)
