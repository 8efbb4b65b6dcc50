"""Time /spend/logs queries (Records.spend_logs) on PostgreSQL with many
generated rows: first page, a deep page by offset and by key, one
request_id, one key's newest page. Not a test (no assertions on timing
in CI); run by hand:

    .venv/bin/python tests/bench/spend_logs_pg.py 1000000
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services import start_postgres  # noqa: E402

from polyrelay.store.database import Database  # noqa: E402
from polyrelay.store.records import Records  # noqa: E402

FILL = """
INSERT INTO spend_logs (request_id, call_type, api_key, user_id, team_id, end_user, model_group, model,
                        prompt_tokens, completion_tokens, cached_tokens, total_tokens, spend,
                        start_time, end_time, status)
SELECT 'req-' || g, 'chat', md5(mod(g, 1000)::text) || md5(mod(g, 1000)::text), 'user-' || mod(g, 5000),
       'team-' || mod(g, 50), 'end-' || mod(g, 20000), 'gpt-4o', 'gpt-4o', 10, 20, 0, 30, 0.0001,
       timestamptz '2026-01-01' + g * interval '1 second', timestamptz '2026-01-01' + g * interval '1 second',
       'success'
FROM generate_series(1, {rows}) AS g
"""


def timed(label: str, fn, repeat: int = 5):
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    print(f"{label:<48} {best * 1000:8.1f} ms  ({len(result)} rows)")
    return result


def main(rows: int) -> None:
    url, stop = start_postgres()
    try:
        db = Database(url)
        db.migrate()
        started = time.perf_counter()
        with db.engine.begin() as conn:
            conn.exec_driver_sql(FILL.replace("{rows}", str(rows)))
            conn.exec_driver_sql("ANALYZE spend_logs")
        print(f"generated {rows:,} rows in {time.perf_counter() - started:.1f} s")
        records = Records(db)
        first = timed("first page (100)", lambda: records.spend_logs(size=100))
        deep = rows // 100 // 2
        timed(f"page {deep:,} by offset", lambda: records.spend_logs(page=deep, size=100), repeat=2)
        middle = records.spend_logs(page=deep, size=100)[-1]
        after = (middle["start_time"], middle["request_id"])
        timed(f"page {deep + 1:,} by key (?after=)", lambda: records.spend_logs(size=100, after=after))
        timed("request_id (the oldest record)", lambda: records.spend_logs(request_id="req-1"))
        key = first[0]["api_key"]
        timed("one key's newest page", lambda: records.spend_logs(api_key=key, size=100))
        timed("one key's page by key, deep", lambda: records.spend_logs(
            api_key=key, size=100, after=(datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=rows // 2),
                                          "")))
        db.dispose()
    finally:
        stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
