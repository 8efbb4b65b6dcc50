"""Hourly roll-ups of the spend records (``spend_hourly``, ``latency_hourly``).

``SpendDrain`` calls ``add`` in the transaction that inserts a batch, with
only the rows actually inserted: a record replayed from a spool is skipped
by the insert and so never counted twice. Migration 0006 fills the tables
from the records already stored, with the same hour and latency steps.

The admin UI reads these (ui/queries.py): a month of a million calls is a
few thousand roll-up rows instead of a million records.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

from .schema import latency_hourly, spend_hourly


def hour_of(at: datetime) -> datetime:
    """The UTC hour a record started in (naive times are UTC already)."""
    if at.tzinfo is not None:
        at = at.astimezone(timezone.utc)
    return at.replace(minute=0, second=0, microsecond=0)


def latency_step(ms: float) -> float:
    """Latency rounded down to a step of 0.1 ms under 10 ms, 1 ms under 100,
    10 ms under 1 s, 100 ms under 10 s, then 1 s: percentiles read from the
    counts are within one step of the exact value."""
    if ms < 10:
        return math.floor(ms * 10) / 10
    for limit, step in ((100, 1), (1000, 10), (10000, 100)):
        if ms < limit:
            return float(math.floor(ms / step) * step)
    return float(math.floor(ms / 1000) * 1000)


def add(conn, dialect, rows: list[dict[str, Any]]) -> None:
    """Add inserted spend records to the hourly totals (``dialect``: the
    sqlite or postgresql SQLAlchemy dialect module, for its upsert)."""
    if not rows:
        return
    totals: dict[tuple, list] = defaultdict(lambda: [0, 0, 0.0, 0])
    latencies: dict[tuple, int] = defaultdict(int)
    for row in rows:
        hour = hour_of(row["start_time"])
        group = totals[(hour, row.get("api_key") or "", row.get("team_id") or "", row.get("model_group") or "")]
        group[0] += 1
        group[1] += row.get("status") != "success"
        group[2] += float(row.get("spend") or 0.0)
        group[3] += int(row.get("total_tokens") or 0)
        if row.get("latency_ms") is not None:
            latencies[(hour, latency_step(float(row["latency_ms"])))] += 1
    # Sorted: two drains upserting the same groups take their row locks in one order (no deadlock).
    insert = dialect.insert(spend_hourly)
    upsert = insert.on_conflict_do_update(
        index_elements=["hour", "api_key", "team_id", "model_group"],
        set_={name: spend_hourly.c[name] + insert.excluded[name]
              for name in ("requests", "failures", "spend", "total_tokens")})
    conn.execute(upsert, [{"hour": k[0], "api_key": k[1], "team_id": k[2], "model_group": k[3], "requests": v[0],
                           "failures": v[1], "spend": v[2], "total_tokens": v[3]} for k, v in sorted(totals.items())])
    if latencies:
        insert = dialect.insert(latency_hourly)
        upsert = insert.on_conflict_do_update(index_elements=["hour", "latency_ms"],
                                              set_={"requests": latency_hourly.c.requests + insert.excluded.requests})
        conn.execute(upsert, [{"hour": hour, "latency_ms": step, "requests": n}
                              for (hour, step), n in sorted(latencies.items())])
