"""Virtual keys on the request path: who a key belongs to, what it may
call, and the budgets and limits that apply — answered from memory.

A key's record, and its user's and team's, are read from the database once
and kept for ``cache_seconds``; management calls on this instance drop the
cached entry at once, other instances see a change within that time. Live
spend and limit counters are not cached here: they are in the Ledger's
state (in-process or Redis), so they are exact across instances.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import AuthenticationError, PermissionDeniedError
from . import key_fields
from .auth import Principal
from ..store.database import Database, is_unavailable
from ..store.ledger import Subject
from ..store.records import Records, hash_key

CACHE_SECONDS = 10.0
# Bounds on what callers can make us remember: every wrong key and every
# end-user name is a cache entry, so the caches are LRU with a fixed size.
MAX_CACHED_KEYS = 10_000
MAX_CACHED_CUSTOMERS = 10_000


class BoundedCache(OrderedDict):
    """A dict that forgets its least recently stored entries past ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.limit:
            self.popitem(last=False)


@dataclass(slots=True)
class KeyEntry:
    """A key's record with its user's and team's, as one cached unit."""

    key: dict[str, Any]
    user: dict[str, Any] | None
    team: dict[str, Any] | None
    org: dict[str, Any] | None = None  # the team's organization: its budget and models apply too
    principal: Any = None  # made on first use and kept with the entry: the same for every request
    routes: tuple[frozenset[str], ...] | None = None  # allowed_routes / key_type rules; None: every route
    _subjects: list[Subject] | None = None

    def __post_init__(self) -> None:
        self.routes = key_fields.route_rules(self.key)

    def model_subjects(self, model: str, seeds: dict[str, float]) -> list[Subject]:
        """The key's own budget and limits for one model group (model_max_budget,
        model_rpm_limit, model_tpm_limit); [] for a key without them. ``seeds``
        holds the spend already recorded in the current window, by model."""
        row = self.key
        budget = (row.get("model_max_budget") or {}).get(model)
        rpm = (row.get("model_rpm_limit") or {}).get(model)
        tpm = (row.get("model_tpm_limit") or {}).get(model)
        if budget is None and rpm is None and tpm is None:
            return []
        ident = f"{row['token_hash']}/{model}"
        subject = Subject("key_model", ident, rpm_limit=rpm, tpm_limit=tpm)
        if budget is not None:
            _, end = key_fields.budget_window(budget.get("time_period"))
            subject.max_budget = budget["budget_limit"]
            subject.budget_reset_at = datetime.fromtimestamp(end, timezone.utc) if end else None
            subject.spend = seeds.get(model, 0.0)
        return [subject]

    def subjects(self) -> list[Subject]:
        """The key, its user and its team as budget subjects (made once per cached entry; read only)."""
        if self._subjects is None:
            found = [Subject.from_row("key", self.key["token_hash"], self.key)]
            if self.user is not None:
                found.append(Subject.from_row("user", self.user["user_id"], self.user))
            if self.team is not None:
                found.append(Subject.from_row("team", self.team["team_id"], self.team))
            self._subjects = found
        return self._subjects

    def allowed_models(self) -> tuple[str, ...] | None:
        """The key's models, narrowed by its user's and its team's; None means every group."""
        allowed: set[str] | None = None
        for row in (self.key, self.user, self.team, self.org):
            models = (row or {}).get("models")
            if models and "all-proxy-models" not in models:
                allowed = set(models) if allowed is None else allowed & set(models)
        return tuple(sorted(allowed)) if allowed is not None else None


class VirtualKeys:
    def __init__(self, db: Database, cache_seconds: float = CACHE_SECONDS) -> None:
        self.db = db
        self.records = Records(db)
        self.cache_seconds = cache_seconds
        self._cache = BoundedCache(MAX_CACHED_KEYS)  # token hash -> (expiry, KeyEntry | None)
        self._customers = BoundedCache(MAX_CACHED_CUSTOMERS)  # end user -> (expiry, row | None)
        # (key hash, model, window start) -> spend recorded in that window: read once per window
        # and instance, only for keys with a model_max_budget, to seed the live counter.
        self._model_spend = BoundedCache(MAX_CACHED_KEYS)

    def forget(self, token_hash: str | None = None) -> None:
        """Drop cached records (one key, or all after a user/team change)."""
        if token_hash is None:
            self._cache.clear()
            self._customers.clear()
        else:
            self._cache.pop(token_hash, None)

    async def entry(self, key: str) -> KeyEntry | None:
        token_hash = hash_key(key)
        cached = self._cache.get(token_hash)
        if cached is not None and cached[0] > time.monotonic():
            entry = cached[1]
        else:
            try:
                entry = await self.db.run(self._load, token_hash)
            except Exception as exc:
                if cached is None or not is_unavailable(exc):
                    raise
                # The database is down (a restart, a failover): a key we knew a moment ago
                # keeps working on what we knew, rather than every caller getting 503.
                # Tried again at the next call; budgets and limits are counted live meanwhile.
                entry = cached[1]
            else:
                self._cache.put(token_hash, (time.monotonic() + self.cache_seconds, entry))
        if entry is None:
            return None
        row = entry.key
        if row.get("blocked") or (entry.team or {}).get("blocked"):
            raise PermissionDeniedError("This key is blocked.", code="key_blocked")
        if (entry.org or {}).get("blocked"):
            raise PermissionDeniedError("This key's organization is blocked.", code="organization_blocked")
        if (entry.user or {}).get("blocked"):
            raise PermissionDeniedError("This key's user is blocked.", code="user_blocked")
        expires = row.get("expires")
        if expires is not None and expires <= datetime.now(timezone.utc):
            raise AuthenticationError(f"This key expired at {expires.isoformat()}.", code="key_expired")
        return entry

    def _load(self, token_hash: str) -> KeyEntry | None:
        row = self.records.get("key", token_hash)
        if row is None:
            return None
        user = self.records.get("user", row["user_id"]) if row.get("user_id") else None
        team = self.records.get("team", row["team_id"]) if row.get("team_id") else None
        org = self.records.get("organization", team["organization_id"]) if (team or {}).get("organization_id") else None
        return KeyEntry(row, user, team, org)

    async def principal_for(self, key: str) -> Principal | None:
        """The auth step's lookup (see auth.KeyLookup)."""
        entry = await self.entry(key)
        if entry is None:
            return None
        if entry.principal is None:
            row = entry.key
            entry.principal = Principal("virtual_key", key_hash=row["token_hash"], models=entry.allowed_models(),
                                        user_id=row.get("user_id"), team_id=row.get("team_id"),
                                        metadata=row.get("metadata") or {}, entry=entry)
        return entry.principal

    async def model_subjects(self, entry: KeyEntry, model: str) -> list[Subject]:
        budget = (entry.key.get("model_max_budget") or {}).get(model)
        seeds: dict[str, float] = {}
        if budget is not None:
            start, _ = key_fields.budget_window(budget.get("time_period"))
            cache_key = (entry.key["token_hash"], model, start)
            if cache_key not in self._model_spend:
                since = datetime.fromtimestamp(start, timezone.utc) if start is not None else None
                self._model_spend.put(cache_key, await self.db.run(
                    self.records.model_spend, entry.key["token_hash"], model, since))
            seeds[model] = self._model_spend[cache_key]
        return entry.model_subjects(model, seeds)

    async def scope_subjects(self, entry: KeyEntry) -> list[Subject]:
        """The budgets over the key's team: its organization's (spent by all the
        organization's teams) and the key's user's budget inside the team
        (``max_budget_in_team``). Their spend so far is read from the spend logs
        once per budget window and instance, then counted live by the Ledger."""
        found: list[Subject] = []
        org, team, user_id = entry.org, entry.team, entry.key.get("user_id")
        if org is not None and any(org.get(k) is not None for k in ("max_budget", "rpm_limit", "tpm_limit")):
            subject = Subject("org", org["organization_id"], rpm_limit=org.get("rpm_limit"),
                              tpm_limit=org.get("tpm_limit"))
            if org.get("max_budget") is not None:
                subject.max_budget = org["max_budget"]
                subject.spend, subject.budget_reset_at = await self._window_spend(
                    ("org", org["organization_id"]), org.get("budget_duration"),
                    lambda since: self.records.scope_spend(self.records.team_ids(org["organization_id"]), None,
                                                           since))
            found.append(subject)
        member_budget = ((team or {}).get("member_budgets") or {}).get(user_id) if user_id else None
        if member_budget is not None:
            subject = Subject("team_member", f"{team['team_id']}/{user_id}", max_budget=float(member_budget))
            subject.spend, _ = await self._window_spend(
                ("team_member", team["team_id"], user_id), None,
                lambda since: self.records.scope_spend([team["team_id"]], user_id, since))
            found.append(subject)
        return found

    async def _window_spend(self, ident: tuple, period: str | None, read) -> tuple[float, datetime | None]:
        start, end = key_fields.budget_window(period)
        cache_key = (*ident, start)
        if cache_key not in self._model_spend:
            since = datetime.fromtimestamp(start, timezone.utc) if start is not None else None
            self._model_spend.put(cache_key, await self.db.run(read, since))
        return self._model_spend[cache_key], datetime.fromtimestamp(end, timezone.utc) if end else None

    async def customer(self, end_user: str) -> Subject:
        """The end user named by a request's ``user`` field, with their budget if one was set."""
        cached = self._customers.get(end_user)
        if cached is not None and cached[0] > time.monotonic():
            row = cached[1]
        else:
            row = await self.db.run(self._load_customer, end_user)
            self._customers.put(end_user, (time.monotonic() + self.cache_seconds, row))
        if row is not None and row.get("blocked"):
            raise PermissionDeniedError(f"End user {end_user!r} is blocked.", code="end_user_blocked")
        subject = Subject.from_row("customer", end_user, row or {})
        period = (row or {}).get("shared_budget_duration")
        if period and subject.max_budget is not None:
            # A budget object's period: epoch-aligned windows, the spend in this one read once from the logs.
            start, end = key_fields.budget_window(period)
            cache_key = ("customer", end_user, start)
            if cache_key not in self._model_spend:
                self._model_spend.put(cache_key, await self.db.run(
                    self.records.model_spend, None, None, datetime.fromtimestamp(start, timezone.utc), end_user))
            subject.spend = self._model_spend[cache_key]
            subject.budget_reset_at = datetime.fromtimestamp(end, timezone.utc)
        return subject

    def _load_customer(self, end_user: str) -> dict[str, Any] | None:
        """An end user's record, with the limits of the budget object it is linked to."""
        row = self.records.get("customer", end_user)
        if row is None or not row.get("budget_id"):
            return row
        budget = self.records.get("budget", row["budget_id"]) or {}
        merged = {**row, **{k: budget[k] for k in ("max_budget", "rpm_limit", "tpm_limit", "max_parallel_requests",
                                                   "soft_budget") if budget.get(k) is not None}}
        if budget.get("budget_duration") and not row.get("budget_duration"):
            merged["shared_budget_duration"] = budget["budget_duration"]
        return merged
