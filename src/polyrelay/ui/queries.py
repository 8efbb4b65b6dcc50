"""The UI's read-only aggregates, computed in SQL.

The overview reads the hourly roll-ups (store/rollup.py) rather than the
records: sums per hour or day, top-N per key/team/model, and a latency
histogram from which p50/p95 are read (within one latency step: the same
SQL on SQLite, which has no percentile function, and on PostgreSQL). The
request log pages through ``spend_logs`` by its (start_time, request_id)
order, with every filter a WHERE clause.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, literal_column, or_, select

from ..store.records import _clean, _spend_filter  # the shared WHERE of every spend query
from ..store.rollup import hour_of
from ..store.schema import keys, latency_hourly, spend_hourly, spend_logs, teams

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


def _bucket(dialect: str, unit: str, column):
    """An hour column truncated to the hour or day, as text 'YYYY-MM-DD[ HH]' (UTC)."""
    if dialect == "postgresql":
        pattern = "YYYY-MM-DD HH24" if unit == "hour" else "YYYY-MM-DD"
        return func.to_char(func.timezone("UTC", column), pattern)
    # SQLite keeps SQLAlchemy's 'YYYY-MM-DD HH:MM:SS.ffffff' text, written in UTC.
    return func.substr(column, 1, 13 if unit == "hour" else 10)


def overview(db, range_name: str, now: datetime | None = None) -> Overview:
    """From the hourly roll-ups (store/rollup.py): the window starts at the
    top of the hour ``span`` ago, so its first hour is counted whole."""
    span, unit = RANGES[range_name]
    end = now or datetime.now(timezone.utc)
    start = hour_of(end - span)
    s, lat = spend_hourly, latency_hourly
    bucket = _bucket(db.dialect, unit, s.c.hour).label("bucket")
    result = Overview(start=start, end=end, unit=unit)
    with db.engine.connect() as conn:
        rows = conn.execute(select(bucket, func.sum(s.c.requests).label("requests"),
                                   func.sum(s.c.failures).label("errors"), func.sum(s.c.spend).label("spend"),
                                   func.sum(s.c.total_tokens).label("tokens"))
                            .where(s.c.hour >= start).group_by(literal_column("bucket"))
                            .order_by(literal_column("bucket"))).all()
        result.buckets = _fill({row.bucket: row for row in rows}, start, end, unit)
        result.requests = sum(int(r.requests or 0) for r in rows)
        result.errors = sum(int(r.errors or 0) for r in rows)
        result.spend = sum(float(r.spend or 0.0) for r in rows)
        result.tokens = sum(int(r.tokens or 0) for r in rows)
        histogram = conn.execute(select(lat.c.latency_ms, func.sum(lat.c.requests)).where(lat.c.hour >= start)
                                 .group_by(lat.c.latency_ms).order_by(lat.c.latency_ms)).all()
        result.p50_ms, result.p95_ms = percentile(histogram, 0.50), percentile(histogram, 0.95)
        # One pass for the three top lists: a row per (key, team, model) of the window, summed here.
        groups = conn.execute(select(s.c.api_key, s.c.team_id, s.c.model_group, func.sum(s.c.spend),
                                     func.sum(s.c.requests)).where(s.c.hour >= start)
                              .group_by(s.c.api_key, s.c.team_id, s.c.model_group)).all()
        for attr, index in (("top_keys", 0), ("top_teams", 1), ("top_models", 2)):
            sums: dict[str, list] = {}
            for group in groups:
                if group[index]:
                    total = sums.setdefault(group[index], [0.0, 0])
                    total[0] += float(group[3] or 0.0)
                    total[1] += int(group[4] or 0)
            ranked = sorted(sums.items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))[:TOP_N]
            setattr(result, attr, [{"name": name, "spend": spend, "requests": requests}
                                   for name, (spend, requests) in ranked])
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


def spend_by(db, column: str, idents: list[str], days: int = 30) -> dict[str, dict[str, Any]]:
    """Requests in the last ``days`` and the last call, per key/user/team/end
    user of one page (their spend totals live on their own rows). Keys and
    teams count from the hourly roll-ups; users and end users, which those
    do not split by, from the records (each has its own index)."""
    if not idents:
        return {}
    since = hour_of(datetime.now(timezone.utc) - timedelta(days=days))
    found: dict[str, dict[str, Any]] = {ident: {"requests": 0, "last": None} for ident in idents}
    with db.engine.connect() as conn:
        if column in ("api_key", "team_id"):
            counts = conn.execute(select(spend_hourly.c[column], func.sum(spend_hourly.c.requests))
                                  .where(spend_hourly.c.hour >= since, spend_hourly.c[column].in_(idents))
                                  .group_by(spend_hourly.c[column])).all()
        else:
            col = spend_logs.c[column]
            counts = conn.execute(select(col, func.count()).where(col.in_(idents), spend_logs.c.start_time >= since)
                                  .group_by(col)).all()
        for ident, n in counts:
            found[ident]["requests"] = int(n or 0)
        for ident in idents:  # the newest record of each: one index seek apiece
            col = spend_logs.c[column]
            found[ident]["last"] = conn.execute(select(func.max(spend_logs.c.start_time)).where(col == ident)).scalar()
    return found
