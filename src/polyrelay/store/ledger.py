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
        """Count the call against every subject's limits and reserve its budget, or raise.

        One round trip to the state (Redis): every counter read and taken at once, then
        checked in order (per subject: parallel requests, rpm, tpm, budget). A refusal
        gives back every reservation; of the rpm counts, those checked before the refusal
        stay taken (a refused request still counts, as one checked subject at a time
        would have it), the refusing one and the later ones are given back."""
        reserve = max(0.0, reserve)  # a reservation never hands budget back
        reserve_tokens = max(0, reserve_tokens)
        admission = Admission(subjects, reserve)
        minute = _minute()
        reads: list[str] = []
        incrs: list[tuple[str, float, float]] = []
        checks: list[tuple[str, Subject, int, int]] = []  # (what, subject, incr index, read index)
        for s in subjects:
            if s.max_parallel_requests is not None:
                checks.append(("parallel", s, len(incrs), -1))
                incrs.append((f"par:{s.kind}:{s.ident}", 1, RESERVATION_TTL))
            if s.rpm_limit is not None:
                checks.append(("rpm", s, len(incrs), -1))
                incrs.append((f"rpm:{s.kind}:{s.ident}:{minute}", 1, 120))
            if s.tpm_limit is not None:
                # Like budgets: the tokens a call may use are reserved while it runs, so
                # concurrent calls overshoot the limit by at most one call, not by their number.
                checks.append(("tpm", s, len(incrs), len(reads)))
                reads.append(f"tpm:{s.kind}:{s.ident}:{minute}")
                incrs.append((f"tpmr:{s.kind}:{s.ident}", reserve_tokens, RESERVATION_TTL))
            if s.max_budget is not None:
                checks.append(("budget", s, len(incrs), len(reads)))
                reads.append(self._spend_key(s))
                incrs.append((f"resv:{s.kind}:{s.ident}", reserve, RESERVATION_TTL))
        if not checks:
            return admission
        read, taken = await self.state.apply(reads, incrs)
        admission.undo = [incrs[at] for what, _, at, _ in checks if what != "rpm"]
        for i, (what, s, at, where) in enumerate(checks):
            try:
                await self._check(what, s, taken[at], read[where] if where >= 0 else None, reserve, reserve_tokens)
            except Exception:
                admission.undo += [incrs[later] for kind, _, later, _ in checks[i:] if kind == "rpm"]
                await self._reverse(admission)
                raise
        return admission

    async def _check(self, what: str, s: Subject, taken: float, read: float | None, reserve: float,
                     reserve_tokens: int) -> None:
        if what == "parallel" and taken > s.max_parallel_requests:
            raise RateLimitError(f"{s.label()} {s.ident!r} is at its max_parallel_requests "
                                 f"({s.max_parallel_requests})", headers={"retry-after": "1"})
        if what == "rpm" and taken > s.rpm_limit:
            raise RateLimitError(f"{s.label()} {s.ident!r} reached its rpm_limit ({s.rpm_limit} requests "
                                 "per minute)", headers={"retry-after": str(60 - int(time.time()) % 60)})
        if what == "tpm":
            others = max(0, taken - reserve_tokens)
            if (read or 0) + others >= s.tpm_limit:
                raise RateLimitError(f"{s.label()} {s.ident!r} reached its tpm_limit ({s.tpm_limit} tokens "
                                     f"per minute; {others} reserved by requests in flight)",
                                     headers={"retry-after": str(60 - int(time.time()) % 60)})
        if what == "budget":
            spent = read if read is not None else await self.live_spend(s)  # first call this period: seeded
            others = max(0.0, taken - reserve)  # what requests already in flight have claimed
            if spent + others >= s.max_budget - 1e-12:
                raise BudgetExceededError(
                    f"Budget has been exceeded for {s.label()} {s.ident!r}: spend {spent:.6f} "
                    f"(+{others:.6f} reserved by requests in flight) of max_budget {s.max_budget}",
                    code="budget_exceeded")

    async def _reverse(self, admission: Admission) -> None:
        undo, admission.undo = admission.undo, []
        if undo:
            await self.state.apply([], [(key, -amount, ttl) for key, amount, ttl in undo])

    async def release(self, admission: Admission) -> None:
        """Give the reservation back: the call was never made."""
        await self._reverse(admission)

    async def settle(self, admission: Admission, cost: float, tokens: int) -> None:
        """Release the reservation and count what the call really cost, in one round trip
        (a subject with only a soft_budget has its spend seeded first: admission did not)."""
        cost = max(0.0, cost)
        minute = _minute()
        incrs = [(key, -amount, ttl) for key, amount, ttl in admission.undo]
        admission.undo = []
        spent_at: list[tuple[Subject, int]] = []
        for s in admission.subjects:
            if cost and (s.max_budget is not None or s.soft_budget is not None):
                if s.max_budget is None:
                    await self.live_spend(s)  # seeded before adding, or the seed would be skipped
                spent_at.append((s, len(incrs)))
                incrs.append((self._spend_key(s), cost, SPEND_TTL))
            if tokens and s.tpm_limit is not None:
                incrs.append((f"tpm:{s.kind}:{s.ident}:{minute}", tokens, 120))
        if not incrs:
            return
        _, values = await self.state.apply([], incrs)
        for s, at in spent_at:
            spent = values[at]
            if s.soft_budget is not None and spent - cost < s.soft_budget <= spent and self.on_soft_budget:
                self.on_soft_budget(s, spent)
