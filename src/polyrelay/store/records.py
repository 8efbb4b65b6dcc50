"""Keys, users, teams and end users (customers): create, read, update,
delete, and the spend queries. Plain SQLAlchemy Core with bound
parameters only — a key or filter is data, never SQL.

Keys are stored as SHA-256 hashes; the plain key exists only in the answer
to the call that made it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from sqlalchemy import Table, and_, bindparam, delete, func, insert, literal, or_, select, text, tuple_, update

from .database import Database
from .schema import budgets, customers, keys, organizations, spend_logs, teams, users

KEY_PREFIX = "sk-"
TABLES = {"key": keys, "user": users, "team": teams, "customer": customers, "budget": budgets,
          "organization": organizations}
ID_COLUMNS = {"key": "token_hash", "user": "user_id", "team": "team_id", "customer": "user_id", "budget": "budget_id",
              "organization": "organization_id"}
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w|mo)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 2592000}


def now() -> datetime:
    return datetime.now(timezone.utc)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_name(key: str) -> str:
    return f"{KEY_PREFIX}...{key[-4:]}"


MAX_DURATION_SECONDS = 100 * 365 * 86400


def parse_duration(text: str) -> timedelta:
    """LiteLLM's budget_duration: "30s", "30m", "24h", "7d", "2w", "1mo" (30 days)."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"budget_duration must look like 30s, 30m, 24h, 7d, 2w or 1mo; got {str(text)[:40]!r}")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_DURATION_SECONDS:  # past this, dates overflow (and no budget period is that long)
        raise ValueError(f"budget_duration must be at most 100 years; got {str(text)[:40]!r}")
    return timedelta(seconds=seconds)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without a zone; they were stored in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


class Records:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- generic rows --------------------------------------------------------------------------

    def _row(self, table: Table, column: str, ident: str) -> dict[str, Any] | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(table).where(table.c[column] == ident)).mappings().first()
        return _clean(row)

    def create(self, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        table = TABLES[kind]
        values = _with_defaults(table, fields)
        with self.db.engine.begin() as conn:
            conn.execute(insert(table).values(**values))
        return self.get(kind, values[ID_COLUMNS[kind]])  # type: ignore[return-value]

    def get(self, kind: str, ident: str) -> dict[str, Any] | None:
        return self._row(TABLES[kind], ID_COLUMNS[kind], ident)

    def update(self, kind: str, ident: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        table = TABLES[kind]
        values = {k: v for k, v in fields.items() if k in table.c and k != ID_COLUMNS[kind]}
        if "budget_duration" in values and "budget_reset_at" in table.c:
            duration = values["budget_duration"]
            values["budget_reset_at"] = now() + parse_duration(duration) if duration else None
        if values:
            with self.db.engine.begin() as conn:
                conn.execute(update(table).where(table.c[ID_COLUMNS[kind]] == ident).values(**values))
        return self.get(kind, ident)

    def delete(self, kind: str, idents: Iterable[str]) -> int:
        table = TABLES[kind]
        with self.db.engine.begin() as conn:
            result = conn.execute(delete(table).where(table.c[ID_COLUMNS[kind]].in_(list(idents))))
        return result.rowcount or 0

    def list(self, kind: str, *, page: int = 1, size: int = 100, **equal: Any) -> list[dict[str, Any]]:
        table = TABLES[kind]
        query = select(table).order_by(table.c.created_at, table.c[ID_COLUMNS[kind]])
        for column, value in equal.items():
            if value is not None:
                query = query.where(table.c[column] == value)
        query = query.limit(size).offset((max(page, 1) - 1) * size)
        with self.db.engine.connect() as conn:
            return [_clean(row) for row in conn.execute(query).mappings()]  # type: ignore[misc]

    def count(self, kind: str, **equal: Any) -> int:
        table = TABLES[kind]
        query = select(func.count()).select_from(table)
        for column, value in equal.items():
            if value is not None:
                query = query.where(table.c[column] == value)
        with self.db.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    # -- keys ------------------------------------------------------------------------------------

    def create_key(self, fields: dict[str, Any], plain: str | None = None) -> tuple[str, dict[str, Any]]:
        plain = plain or new_key()
        row = self.create("key", {**fields, "token_hash": hash_key(plain), "key_name": key_name(plain)})
        return plain, row

    def regenerate_key(self, token_hash: str) -> tuple[str, dict[str, Any]] | None:
        """A new secret for the same key record (spend, limits and budget carry over)."""
        plain = new_key()
        with self.db.engine.begin() as conn:
            changed = conn.execute(update(keys).where(keys.c.token_hash == token_hash)
                                   .values(token_hash=hash_key(plain), key_name=key_name(plain))).rowcount
        if not changed:
            return None
        return plain, self.get("key", hash_key(plain))  # type: ignore[return-value]

    # -- spend -----------------------------------------------------------------------------------

    def spend_logs(self, *, api_key: str | None = None, user_id: str | None = None, team_id: str | None = None,
                   end_user: str | None = None, start: datetime | None = None, end: datetime | None = None,
                   request_id: str | None = None, model: str | None = None,
                   page: int = 1, size: int = 100, after: tuple[datetime, str] | None = None) -> list[dict[str, Any]]:
        """Every filter is a WHERE clause: a page holds only matching rows. ``after`` (the last
        row's start_time and request_id) pages by key instead of by offset: as fast deep in
        millions of rows as on the first page."""
        query = select(spend_logs).where(_spend_filter(api_key, user_id, team_id, end_user, start, end))
        if request_id is not None:
            query = query.where(spend_logs.c.request_id == request_id)
        if model is not None:  # the group asked for, or the model that answered
            query = query.where(or_(spend_logs.c.model_group == model, spend_logs.c.model == model))
        position = tuple_(spend_logs.c.start_time, spend_logs.c.request_id)
        if after is not None:  # one row comparison in the order of the index, so the scan starts there
            query = query.where(position < tuple_(literal(after[0], spend_logs.c.start_time.type),
                                                  literal(after[1], spend_logs.c.request_id.type)))
        query = query.order_by(spend_logs.c.start_time.desc(), spend_logs.c.request_id.desc())
        query = query.limit(size).offset(0 if after is not None else (max(page, 1) - 1) * size)
        with self.db.engine.connect() as conn:
            return [_clean(row) for row in conn.execute(query).mappings()]  # type: ignore[misc]

    def spend_by_tag(self, *, start: datetime | None = None, end: datetime | None = None) -> list[dict[str, Any]]:
        """Spend and request count per tag (LiteLLM's /spend/tags shape), summed in the database:
        each row's ``request_tags`` array is expanded with the dialect's JSON table function."""
        if self.db.dialect == "postgresql":
            tags = ("json_array_elements_text(CASE WHEN json_typeof(s.request_tags) = 'array' "
                    "THEN s.request_tags ELSE '[]'::json END) AS t(tag)")
            source, tag = f"spend_logs s CROSS JOIN LATERAL {tags}", "t.tag"
        else:
            tags = "json_each(CASE WHEN json_type(s.request_tags) = 'array' THEN s.request_tags ELSE '[]' END) t"
            source, tag = f"spend_logs s, {tags}", "t.value"
        where, params = ["s.request_tags IS NOT NULL"], {}
        if start is not None:
            where.append("s.start_time >= :start")
            params["start"] = start
        if end is not None:
            where.append("s.start_time < :end")
            params["end"] = end
        sql = text(f"SELECT {tag} AS tag, count(*) AS log_count, sum(s.spend) AS total_spend FROM {source} "
                   f"WHERE {' AND '.join(where)} GROUP BY {tag} ORDER BY total_spend DESC")
        # Bound as the column's own type, so SQLite compares dates as SQLAlchemy stored them.
        sql = sql.bindparams(*(bindparam(name, type_=spend_logs.c.start_time.type) for name in params))
        with self.db.engine.connect() as conn:
            return [{"individual_request_tag": row.tag, "log_count": int(row.log_count),
                     "total_spend": float(row.total_spend or 0.0)} for row in conn.execute(sql, params)]

    def model_spend(self, token_hash: str | None, model_group: str | None, since: datetime | None,
                    end_user: str | None = None) -> float:
        """Recorded spend since a time (all time with None): of a key on one model group,
        of one end user, or of every call with None for all."""
        query = select(func.coalesce(func.sum(spend_logs.c.spend), 0.0))
        if token_hash is not None:
            query = query.where(spend_logs.c.api_key == token_hash, spend_logs.c.model_group == model_group)
        if end_user is not None:
            query = query.where(spend_logs.c.end_user == end_user)
        if since is not None:
            query = query.where(spend_logs.c.start_time >= since)
        with self.db.engine.connect() as conn:
            return float(conn.execute(query).scalar() or 0.0)

    def scope_spend(self, team_ids: list[str], user_id: str | None, since: datetime | None) -> float:
        """Recorded spend since a time of some teams' calls (an organization's), or of
        one member's calls in one team (``user_id`` with a single team)."""
        if not team_ids:
            return 0.0
        query = select(func.coalesce(func.sum(spend_logs.c.spend), 0.0)).where(spend_logs.c.team_id.in_(team_ids))
        if user_id is not None:
            query = query.where(spend_logs.c.user_id == user_id)
        if since is not None:
            query = query.where(spend_logs.c.start_time >= since)
        with self.db.engine.connect() as conn:
            return float(conn.execute(query).scalar() or 0.0)

    def team_ids(self, organization_id: str) -> list[str]:
        with self.db.engine.connect() as conn:
            return [row[0] for row in conn.execute(select(teams.c.team_id)
                                                   .where(teams.c.organization_id == organization_id))]

    def spend_report(self, *, group_by: str = "team_id", start: datetime | None = None,
                     end: datetime | None = None) -> list[dict[str, Any]]:
        column = spend_logs.c[group_by]
        query = (select(column.label("group"), func.sum(spend_logs.c.spend).label("spend"),
                        func.sum(spend_logs.c.total_tokens).label("total_tokens"),
                        func.sum(spend_logs.c.prompt_tokens).label("prompt_tokens"),
                        func.sum(spend_logs.c.completion_tokens).label("completion_tokens"),
                        func.count().label("requests"))
                 .where(_spend_filter(None, None, None, None, start, end))
                 .group_by(column).order_by(func.sum(spend_logs.c.spend).desc()))
        with self.db.engine.connect() as conn:
            return [_clean(row) for row in conn.execute(query).mappings()]  # type: ignore[misc]

    def reset_budgets(self, at: datetime | None = None) -> int:
        """Zero the spend of every row whose budget period has ended, and start the next period."""
        at = at or now()
        changed = 0
        with self.db.engine.begin() as conn:
            for table in (keys, users, teams, customers):
                due = conn.execute(select(table.c[table.primary_key.columns.keys()[0]], table.c.budget_duration)
                                   .where(and_(table.c.budget_reset_at.is_not(None), table.c.budget_reset_at <= at)))
                for ident, duration in due.all():
                    conn.execute(update(table).where(table.primary_key.columns.values()[0] == ident)
                                 .values(spend=0.0, budget_reset_at=at + parse_duration(duration)))
                    changed += 1
        return changed


def _spend_filter(api_key, user_id, team_id, end_user, start, end):
    conditions = [spend_logs.c.request_id.is_not(None)]
    for column, value in (("api_key", api_key), ("user_id", user_id), ("team_id", team_id), ("end_user", end_user)):
        if value is not None:
            conditions.append(spend_logs.c[column] == value)
    if start is not None:
        conditions.append(spend_logs.c.start_time >= start)
    if end is not None:
        conditions.append(spend_logs.c.start_time < end)
    return and_(*conditions)


def _with_defaults(table: Table, fields: dict[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in fields.items() if k in table.c and v is not None}
    if "spend" in table.c:  # budget objects keep no spend of their own
        values.setdefault("spend", 0.0)
        values.setdefault("blocked", False)
    values["created_at"] = now()
    if values.get("budget_duration") and "budget_reset_at" in table.c:
        values["budget_reset_at"] = values["created_at"] + parse_duration(values["budget_duration"])
    return values


def _clean(row: Any) -> dict[str, Any] | None:
    if row is None:
        return None
    # Column names come back as SQLAlchemy's quoted_name (a str subclass): plain str for JSON encoders.
    return {str(name): aware(value) if isinstance(value, datetime) else value for name, value in row.items()}
