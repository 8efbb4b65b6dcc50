"""bench/ledger_redis.py runs from nothing: its own redis-server, a short timed loop."""

from __future__ import annotations

import os
import subprocess
import sys

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "bench")


def test_the_ledger_bench_runs_against_its_own_redis():
    out = subprocess.run([sys.executable, os.path.join(BENCH, "ledger_redis.py"), "--calls", "50", "--runs", "1", "--concurrency", "5"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "admit + settle" in out.stdout and "us CPU" in out.stdout and "(50 calls, 5 at once)" in out.stdout
