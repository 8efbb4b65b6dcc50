#!/usr/bin/env python3
"""Slow-stream benchmark: thousands of open streams through one gateway.

    .venv/bin/python bench/slow_streams.py                          # 500 -> 1,000 -> 2,000 streams
    .venv/bin/python bench/slow_streams.py --stages 100 --chunks 40 # a quick look
    .venv/bin/python bench/slow_streams.py --target litellm=http://127.0.0.1:4000

On 127.0.0.1 only: a slow upstream (every answer ``--chunks`` SSE events at
20-50 ms each, then the include_usage chunk), and polyrelay with
``--num_workers`` workers in front of it. Each stage opens N concurrent client
streams, first straight to the upstream (the baseline), then through each
gateway, and reports per gateway: CPU per relayed chunk (the gateway's whole
process tree), RSS per open stream (peak while all N are open, minus before),
time to first chunk added over the upstream's own (p50, p99) and errors.
Results also go to bench/results/slow-<timestamp>.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from polybench import procs, slowstream, upstream as nginx_confs  # noqa: E402
from polybench.targets import parse_target_arg, parse_target_headers, url_port  # noqa: E402


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench/slow_streams.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="A --target gateway must serve the model group 'slow' routed to the bench "
                                       "upstream: --print-config prints a LiteLLM-format config.yaml that does.")
    p.add_argument("--stages", default="500,1000,2000", help="concurrent streams per stage (default: 500,1000,2000)")
    p.add_argument("--chunks", type=int, default=200, help="content chunks per answer (default: 200)")
    p.add_argument("--interval-ms", default="20,50", help="per-chunk pace range in ms, LO,HI (default: 20,50)")
    p.add_argument("--ramp", type=float, default=2.0, help="seconds over which a stage opens its streams")
    p.add_argument("--workers", type=int, default=1, help="polyrelay --num_workers (default: 1)")
    p.add_argument("--target", action="append", default=[], metavar="NAME=URL",
                   help="also measure a gateway already running on loopback (repeatable)")
    p.add_argument("--target-header", action="append", default=[], metavar="NAME=HEADER: VALUE",
                   help="send this header to that --target; {upstream} in the value becomes the slow upstream's "
                        "base URL (e.g. for Portkey: 'portkey=x-portkey-custom-host: {upstream}')")
    p.add_argument("--no-polyrelay", action="store_true", help="measure only the --target gateways")
    p.add_argument("--nginx-hop", action="store_true",
                   help="also measure nginx relaying unbuffered (one worker, parses nothing): the floor per chunk")
    p.add_argument("--base-port", type=int, default=18900, help="upstream on this port, polyrelay on +1")
    p.add_argument("--print-config", action="store_true", help="print the gateway config for the upstream and exit")
    p.add_argument("--serve-upstream", action="store_true", help=argparse.SUPPRESS)
    return p


def gateway_config(upstream_port: int) -> str:
    return ("model_list:\n  - model_name: slow\n    litellm_params:\n      model: openai/slow-model\n"
            f"      api_base: http://127.0.0.1:{upstream_port}/v1\n      api_key: sk-bench-upstream\n")


def _fast_loop() -> None:
    try:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass


def _wait_ready(url: str, process: subprocess.Popen | None, seconds: float = 60.0) -> None:
    import urllib.request
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"{url}: the process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/health/readiness", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not become ready in {seconds:.0f}s")


async def measure(port: int, streams: int, pids: list[int], ramp: float, headers: dict | None = None) -> dict:
    """One stage against one target: the load's results and the target's CPU and RSS."""
    before = procs.read_usage(pids) if pids else None
    peak_kb = 0
    task = asyncio.create_task(slowstream.drive(port, streams, "slow", ramp_s=ramp, headers=headers))
    while not task.done():
        if pids:
            peak_kb = max(peak_kb, procs.read_usage(pids).rss_kb)
        await asyncio.sleep(0.5)
    load = task.result()
    after = procs.read_usage(pids) if pids else None
    row = {"streams": streams, "errors": load.errors, "events": load.events,
           "ttfb_p50_ms": load.ttfb_ms(0.50), "ttfb_p99_ms": load.ttfb_ms(0.99)}
    if before and after:
        cpu_s = (after.ticks - before.ticks) / procs.CLK_TCK
        row["cpu_s"] = round(cpu_s, 2)
        row["cpu_us_per_chunk"] = round(1e6 * cpu_s / load.events, 1) if load.events else None
        sys_s = (after.sys_ticks - before.sys_ticks) / procs.CLK_TCK
        row["sys_us_per_chunk"] = round(1e6 * sys_s / load.events, 1) if load.events else None
        row["rss_before_mb"] = round(before.rss_kb / 1024, 1)
        row["rss_peak_mb"] = round(peak_kb / 1024, 1)
        row["rss_kb_per_stream"] = round((peak_kb - before.rss_kb) / streams, 1)
    return row


def _fmt(value, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def report(rows: list[dict]) -> str:
    lines = [f"{'target':<12} {'streams':>7} {'errors':>6} {'chunks':>8} {'µs CPU/chunk':>12} {'of it sys':>9} "
             f"{'KB RSS/stream':>13} {'TTFB p50':>9} {'p99':>8} {'added p50':>9} {'added p99':>9}"]
    for row in rows:
        lines.append(f"{row['target']:<12} {row['streams']:>7} {row['errors']:>6} {row['events']:>8} "
                     f"{_fmt(row.get('cpu_us_per_chunk')):>12} {_fmt(row.get('sys_us_per_chunk')):>9} "
                     f"{_fmt(row.get('rss_kb_per_stream')):>13} "
                     f"{_fmt(row['ttfb_p50_ms']):>9} {_fmt(row['ttfb_p99_ms']):>8} "
                     f"{_fmt(row.get('added_p50_ms'), '+.1f'):>9} {_fmt(row.get('added_p99_ms'), '+.1f'):>9}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    lo, hi = (float(x) for x in args.interval_ms.split(","))
    upstream_port, gateway_port = args.base_port, args.base_port + 1
    if args.print_config:
        print(gateway_config(upstream_port), end="")
        return 0
    _fast_loop()
    if args.serve_upstream:
        asyncio.run(slowstream.serve_upstream(upstream_port, args.chunks, lo, hi))
        return 0
    # Thousands of sockets on each side: every process started here inherits the raised limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    stages = [int(x) for x in args.stages.split(",") if x.strip()]
    running = procs.Processes()
    workdir = tempfile.mkdtemp(prefix="polyrelay-slow-")
    rows: list[dict] = []
    try:
        print(f"== slow upstream on {upstream_port}: {args.chunks} chunks at {lo:.0f}-{hi:.0f} ms", flush=True)
        upstream = running.start("upstream", [sys.executable, os.path.abspath(__file__), "--serve-upstream",
                                              "--base-port", str(upstream_port), "--chunks", str(args.chunks),
                                              "--interval-ms", args.interval_ms], os.path.join(workdir, "up.log"))
        procs.wait_port(upstream_port, upstream, "slow upstream")
        targets: list[tuple[str, int, list[int]]] = []
        upstream_url = f"http://127.0.0.1:{upstream_port}/v1"
        target_headers = {name: {h: v.replace("{upstream}", upstream_url) for h, v in headers.items()}
                          for name, headers in parse_target_headers(args.target_header, "bench/slow_streams.py").items()}
        if not args.no_polyrelay:
            config = os.path.join(workdir, "config.yaml")
            with open(config, "w") as f:
                f.write(gateway_config(upstream_port))
            gateway = running.start("polyrelay", [sys.executable, "-m", "polyrelay.gateway.cli", "--config", config,
                                                  "--host", "127.0.0.1", "--port", str(gateway_port),
                                                  "--num_workers", str(args.workers)],
                                    os.path.join(workdir, "gateway.log"), cwd=workdir)
            _wait_ready(f"http://127.0.0.1:{gateway_port}", gateway)
            targets.append(("polyrelay", gateway_port, [gateway.pid]))
        if args.nginx_hop:
            hop_port = gateway_port + 1
            conf = os.path.join(workdir, "pass.conf")
            with open(conf, "w") as f:
                f.write(nginx_confs.pass_through_conf(workdir, hop_port, upstream_port, os.geteuid() == 0))
            hop = running.start("nginx-hop", ["nginx", "-p", workdir, "-e", os.path.join(workdir, "pass-error.log"),
                                              "-c", conf], os.path.join(workdir, "pass.log"))
            procs.wait_port(hop_port, hop, "nginx (pass-through)", seconds=10)
            targets.append(("nginx-hop", hop_port, [hop.pid]))
        for spec in args.target:
            name, url = parse_target_arg(spec)
            targets.append((name, url_port(url), procs.listening_pids(url_port(url))))
        for streams in stages:
            print(f"== {streams} concurrent streams", flush=True)
            direct = asyncio.run(measure(upstream_port, streams, [], args.ramp))
            direct["target"] = "direct"
            rows.append(direct)
            print(report([direct]).splitlines()[1], flush=True)
            for name, port, pids in targets:
                row = asyncio.run(measure(port, streams, pids, args.ramp, target_headers.get(name)))
                row["target"] = name
                for q in ("p50", "p99"):
                    ours, base = row[f"ttfb_{q}_ms"], direct[f"ttfb_{q}_ms"]
                    row[f"added_{q}_ms"] = None if ours is None or base is None else round(ours - base, 1)
                rows.append(row)
                print(report([row]).splitlines()[1], flush=True)
        print("\n" + report(rows))
        results = os.path.join(HERE, "results")
        os.makedirs(results, exist_ok=True)
        path = os.path.join(results, f"slow-{time.strftime('%Y%m%d-%H%M%S')}.json")
        with open(path, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=2)
        print(f"results: {path}")
    finally:
        running.stop_all()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return 0


if __name__ == "__main__":
    sys.exit(main())
