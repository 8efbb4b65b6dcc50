"""/spend/logs at scale: generate ROWS (default 10 million) spend records on a
throwaway PostgreSQL (tests/services.py starts one) and time the queries
/spend/logs makes (Records.spend_logs): request_id lookups, first pages,
keyset (?after=) against offset (?page=) pages halfway in, per-key and
per-team filters. The insert takes ~15 minutes on a busy 2-core machine.

    ROWS=10000000 .venv/bin/python bench/spend_logs_scale.py
"""
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import services  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

from sqlalchemy import text  # noqa: E402

from polyrelay.store.database import Database  # noqa: E402
from polyrelay.store.records import Records  # noqa: E402

N = int(os.environ.get("ROWS", "10000000"))
url, stop = services.start_postgres()
try:
    db = Database(url)
    db.migrate()
    t0 = time.perf_counter()
    with db.engine.begin() as conn:
        # The backend doing the insert runs at the lowest CPU priority: the machine is shared.
        os.setpriority(os.PRIO_PROCESS, conn.execute(text("SELECT pg_backend_pid()")).scalar(), 19)
        conn.execute(text("""
            INSERT INTO spend_logs (request_id, call_type, api_key, user_id, team_id, end_user, model_group, model,
                prompt_tokens, completion_tokens, cached_tokens, total_tokens, spend, start_time, end_time, status)
            SELECT 'req-' || g, 'acompletion', md5((g % 1000)::text) || md5((g % 1000)::text || 'x'),
                   'user-' || (g % 5000), 'team-' || (g % 50), 'cust-' || (g % 20000), 'gpt-4o', 'gpt-4o',
                   10, 20, 0, 30, 0.0001, timestamptz '2026-01-01' + g * interval '1 second',
                   timestamptz '2026-01-01' + g * interval '1 second' + interval '1 second', 'success'
            FROM generate_series(1, :n) AS g"""), {"n": N})
        conn.execute(text("ANALYZE spend_logs"))
    print(f"inserted {N} rows in {time.perf_counter() - t0:.0f}s", flush=True)
    records = Records(db)

    def timed(label, fn, repeat=5):
        fn()  # warm
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            rows = fn()
            times.append((time.perf_counter() - start) * 1000)
        print(f"{label}: median {sorted(times)[len(times)//2]:.1f} ms ({len(rows)} rows)", flush=True)
        return rows

    timed("request_id, the oldest record", lambda: records.spend_logs(request_id="req-1"))
    timed("request_id, one in the middle", lambda: records.spend_logs(request_id=f"req-{N // 2}"))
    first = timed("first page (100)", lambda: records.spend_logs(size=100))
    mid = datetime.fromtimestamp(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp() + N // 2, timezone.utc)
    timed("keyset page halfway in (?after=)", lambda: records.spend_logs(size=100, after=(mid, f"req-{N // 2}")))
    timed("offset page halfway in (?page=)", lambda: records.spend_logs(size=100, page=N // 200), repeat=3)
    key = first[0]["api_key"]
    timed("one key's first page", lambda: records.spend_logs(api_key=key, size=100))
    timed("one key, keyset halfway", lambda: records.spend_logs(api_key=key, size=100, after=(mid, f"req-{N // 2}")))
    timed("one team, a day's range", lambda: records.spend_logs(team_id="team-7", size=100,
          start=datetime(2026, 2, 1, tzinfo=timezone.utc), end=datetime(2026, 2, 2, tzinfo=timezone.utc)))
    timed("model filter, first page", lambda: records.spend_logs(model="gpt-4o", size=100))
    db.dispose()
finally:
    stop()
