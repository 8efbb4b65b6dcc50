"""What a keyed call costs the gateway in Redis: the ledger's admission and
settlement (a key and a team, each with an rpm limit and a budget) against a
real Redis on 127.0.0.1, CPU and wall time per call.

    .venv/bin/python bench/ledger_redis.py                 # starts its own redis-server
    .venv/bin/python bench/ledger_redis.py --concurrency 16   # 16 callers at once, as a busy gateway has
    .venv/bin/python bench/ledger_redis.py --redis-url redis://127.0.0.1:6379/0 --calls 5000

CPU is this process's (the gateway's side: redis-py encoding commands and
parsing replies); wall includes the round trips. Compare runs on one machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from polybench import procs  # noqa: E402


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench/ledger_redis.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--redis-url", help="a Redis to use (default: start redis-server on a free loopback port)")
    p.add_argument("--calls", type=int, default=3000, help="admit + settle pairs to time (default: 3000)")
    p.add_argument("--runs", type=int, default=3, help="timed runs, each reported (default: 3)")
    p.add_argument("--concurrency", type=int, default=1, help="callers at once, sharing the calls (default: 1)")
    return p


async def measure(url: str, calls: int, concurrency: int = 1) -> tuple[float, float]:
    from polyrelay.router.state import RedisState
    from polyrelay.store.ledger import Ledger, Subject

    state = RedisState(url=url, prefix=f"bench{uuid.uuid4().hex}:")
    ledger = Ledger(state)
    key = Subject("key", "k", max_budget=1e9, rpm_limit=10**9)
    team = Subject("team", "t", max_budget=1e9, rpm_limit=10**9)
    await ledger.settle(await ledger.admit([key, team], 0.01), 0.01, 10)  # seeds the spend counters
    async def caller(n: int) -> None:
        for _ in range(n):
            await ledger.settle(await ledger.admit([key, team], 0.01), 0.001, 10)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller(calls // concurrency) for _ in range(concurrency)))
    calls = calls // concurrency * concurrency
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await state.aclose()
    return 1e6 * cpu / calls, 1e6 * wall / calls


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    server = None
    url = args.redis_url
    try:
        if url is None:
            port = next(p for p in range(16390, 16490) if procs.port_free(p))
            workdir = tempfile.mkdtemp(prefix="polyrelay-ledger-")
            server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", "no", "--dir", workdir], stdout=subprocess.DEVNULL)
            procs.wait_port(port, server, "redis-server")
            url = f"redis://127.0.0.1:{port}/0"
        try:
            import uvloop

            run = uvloop.run
        except ImportError:  # the gateway serves on uvloop when installed: measure there
            run = asyncio.run
        for i in range(args.runs):
            cpu, wall = run(measure(url, args.calls, args.concurrency))
            print(f"run {i + 1}: admit + settle {cpu:.0f} us CPU, {wall:.0f} us wall per call ({args.calls} calls, "
                  f"{args.concurrency} at once)", flush=True)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
