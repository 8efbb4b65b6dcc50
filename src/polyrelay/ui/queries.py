"""The UI's read-only aggregates over ``spend_logs``, computed in SQL.

Every query is bounded by a time window on ``start_time`` (the indexed
column) and returns a handful of rows: sums per hour or day, top-N per
key/team/model, and a latency histogram at 1 ms resolution from which
p50/p95 are read (exact to the millisecond, 0.1 ms under 10 ms, the same SQL on SQLite, which
has no percentile function, and on PostgreSQL).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Integer, case, cast, func, literal_column, or_, select

from ..store.records import _clean, _spend_filter  # the shared WHERE of every spend query
from ..store.schema import keys, spend_logs, teams

RANGES = {"24h": (timedelta(hours=24), "hour"), "7d": (timedelta(days=7), "day"), "30d": (timedelta(days=30), "day")}
TOP_N = 8


@dataclass
class Overview:
    start: datetime
    end: datetime
    unit: str  # "hour" | "day"
    buckets: list[dict[str, Any]] = field(default_factory=list)  # {"at": datetime, "spend", "requests", "errors"}
    requests: int = 0
    errors: int = 0
    spend: float = 0.0
    tokens: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    top_keys: list[dict[str, Any]] = field(default_factory=list)
    top_teams: list[dict[str, Any]] = field(default_factory=list)
    top_models: list[dict[str, Any]] = field(default_factory=list)

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def _bucket(dialect: str, unit: str):
    """start_time truncated to the hour or day, as text 'YYYY-MM-DD[ HH]' (UTC)."""
    if dialect == "postgresql":
        pattern = "YYYY-MM-DD HH24" if unit == "hour" else "YYYY-MM-DD"
        return func.to_char(func.timezone("UTC", spend_logs.c.start_time), pattern)
    # SQLite keeps SQLAlchemy's 'YYYY-MM-DD HH:MM:SS.ffffff' text, written in UTC.
    return func.substr(spend_logs.c.start_time, 1, 13 if unit == "hour" else 10)


def _parse_bucket(text: str) -> datetime:
    fmt = "%Y-%m-%d %H" if len(text) > 10 else "%Y-%m-%d"
    return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)


def overview(db, range_name: str, now: datetime | None = None) -> Overview:
    span, unit = RANGES[range_name]
    end = now or datetime.now(timezone.utc)
    start = end - span
    where = _spend_filter(None, None, None, None, start, None)
    failed = case((spend_logs.c.status != "success", 1), else_=0)
    bucket = _bucket(db.dialect, unit).label("bucket")
    result = Overview(start=start, end=end, unit=unit)
    with db.engine.connect() as conn:
        rows = conn.execute(select(bucket, func.count().label("requests"), func.sum(failed).label("errors"),
                                   func.coalesce(func.sum(spend_logs.c.spend), 0.0).label("spend"),
                                   func.coalesce(func.sum(spend_logs.c.total_tokens), 0).label("tokens"))
                            .where(where).group_by(literal_column("bucket")).order_by(literal_column("bucket"))).all()
        found = {row.bucket: row for row in rows}
        result.buckets = _fill(found, start, end, unit)
        result.requests = sum(int(r.requests) for r in rows)
        result.errors = sum(int(r.errors or 0) for r in rows)
        result.spend = sum(float(r.spend or 0.0) for r in rows)
        result.tokens = sum(int(r.tokens or 0) for r in rows)
        # 0.1 ms steps under 10 ms (calls served from cache or mocks), 1 ms steps above.
        ms = spend_logs.c.latency_ms
        latency = case((ms < 10, cast(ms * 10, Integer) / 10.0), else_=cast(ms, Integer)).label("ms")
        histogram = conn.execute(select(latency, func.count().label("n"))
                                 .where(where, spend_logs.c.latency_ms.is_not(None))
                                 .group_by(literal_column("ms")).order_by(literal_column("ms"))).all()
        result.p50_ms, result.p95_ms = percentile(histogram, 0.50), percentile(histogram, 0.95)
        for attr, column in (("top_keys", spend_logs.c.api_key), ("top_teams", spend_logs.c.team_id),
                             ("top_models", spend_logs.c.model_group)):
            top = conn.execute(select(column.label("name"), func.sum(spend_logs.c.spend).label("spend"),
                                      func.count().label("requests"))
                               .where(where, column.is_not(None)).group_by(column)
                               .order_by(func.sum(spend_logs.c.spend).desc(), func.count().desc()).limit(TOP_N)).all()
            setattr(result, attr, [{"name": r.name, "spend": float(r.spend or 0.0), "requests": int(r.requests)}
                                   for r in top])
        # Keys and teams by the names people gave them (alias), looked up for the few shown.
        hashes = [r["name"] for r in result.top_keys]
        if hashes:
            names = dict(conn.execute(select(keys.c.token_hash, func.coalesce(keys.c.key_alias, keys.c.key_name))
                                      .where(keys.c.token_hash.in_(hashes))).all())
            for r in result.top_keys:
                r["label"] = names.get(r["name"]) or r["name"][:12] + "…"
        team_ids = [r["name"] for r in result.top_teams]
        if team_ids:
            names = dict(conn.execute(select(teams.c.team_id, teams.c.team_alias).where(teams.c.team_id.in_(team_ids)))
                         .all())
            for r in result.top_teams:
                r["label"] = names.get(r["name"]) or r["name"]
        for r in result.top_models:
            r["label"] = r["name"]
    return result


def percentile(histogram: list[Any], q: float) -> float | None:
    """The q-quantile of (value, count) rows sorted by value (nearest rank)."""
    total = sum(int(n) for _, n in histogram)
    if not total:
        return None
    rank = max(1, int(-(-q * total // 1)))  # ceil(q * total)
    seen = 0
    for value, n in histogram:
        seen += int(n)
        if seen >= rank:
            return float(value)
    return float(histogram[-1][0])


def _fill(found: dict[str, Any], start: datetime, end: datetime, unit: str) -> list[dict[str, Any]]:
    """One bucket per hour/day of the window, zero where nothing happened."""
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    at = start.replace(minute=0, second=0, microsecond=0)
    if unit == "day":
        at = at.replace(hour=0)
    out = []
    while at <= end:
        label = at.strftime("%Y-%m-%d %H" if unit == "hour" else "%Y-%m-%d")
        row = found.get(label)
        out.append({"at": at, "spend": float(row.spend or 0.0) if row else 0.0,
                    "requests": int(row.requests) if row else 0, "errors": int(row.errors or 0) if row else 0})
        at += step
    return out


def request_logs(db, *, api_key: str | None, team_id: str | None, model: str | None, status: str | None,
                 start: datetime | None, end: datetime | None, after: tuple[datetime, str] | None,
                 size: int = 50) -> list[dict[str, Any]]:
    """A page of spend records, newest first, keyset-paged like /spend/logs
    (Records.spend_logs), plus the status filter the UI offers."""
    query = select(spend_logs, keys.c.key_alias, keys.c.key_name).select_from(
        spend_logs.outerjoin(keys, keys.c.token_hash == spend_logs.c.api_key))
    query = query.where(_spend_filter(api_key, None, team_id, None, start, end))
    if model:
        query = query.where(or_(spend_logs.c.model_group == model, spend_logs.c.model == model))
    if status == "success":
        query = query.where(spend_logs.c.status == "success")
    elif status == "failure":
        query = query.where(spend_logs.c.status != "success")
    if after is not None:
        query = query.where(or_(spend_logs.c.start_time < after[0],
                                (spend_logs.c.start_time == after[0]) & (spend_logs.c.request_id < after[1])))
    query = query.order_by(spend_logs.c.start_time.desc(), spend_logs.c.request_id.desc()).limit(size)
    with db.engine.connect() as conn:
        return [_clean(row) for row in conn.execute(query).mappings()]  # type: ignore[misc]


def spend_by(db, column: str, idents: list[str]) -> dict[str, dict[str, Any]]:
    """Requests and last use per key/user/team/end user of one page (their
    spend totals live on their own rows)."""
    if not idents:
        return {}
    col = spend_logs.c[column]
    with db.engine.connect() as conn:
        rows = conn.execute(select(col, func.count().label("requests"), func.max(spend_logs.c.start_time).label("last"))
                            .where(col.in_(idents)).group_by(col)).all()
    return {r[0]: {"requests": int(r.requests), "last": r.last} for r in rows}
