#!/usr/bin/env python3
"""polyrelay load benchmark: one command.

    .venv/bin/python bench/run.py                      # the whole matrix, a few minutes
    .venv/bin/python bench/run.py --duration 10        # longer runs
    .venv/bin/python bench/run.py --target litellm=http://127.0.0.1:4000
    .venv/bin/python bench/run.py --soak 300           # RSS over 5 minutes of steady load
    .venv/bin/python bench/run.py --profile 15 --py-spy /tmp/prof/bin/py-spy

Starts, on 127.0.0.1 only: a mock OpenAI upstream (nginx with fixed JSON and
SSE bodies), an nginx reverse-proxy hop in front of it (the reference hop),
and the polyrelay gateway with a generated config; then drives each target
with wrk (non-streaming chat, and streaming chat with include_usage) at 1,
16 and 64 connections, each run bounded by --duration. Prints req/s,
p50/p99, errors, CPU and RSS per run, the ratios to the direct upstream and
to the hop, and the latency polyrelay adds; writes everything to
bench/results/<timestamp>.json. Every process it started is stopped at the
end, also on Ctrl-C or an error. Needs the Debian packages nginx and wrk.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from polybench import modes, procs, upstream  # noqa: E402
from polybench.bench import Bench, log  # noqa: E402
from polybench.targets import KINDS, parse_target_arg  # noqa: E402


def seconds_or_zero(text: str) -> int:
    """wrk's durations are whole seconds: "10", "10s", "2m"."""
    text = text.strip().lower()
    factor = 60 if text.endswith("m") else 1
    try:
        value = int(text.rstrip("sm")) * factor
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration in whole seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("a duration cannot be negative")
    return value


def seconds(text: str) -> int:
    value = seconds_or_zero(text)
    if value < 1:
        raise argparse.ArgumentTypeError("a duration is at least 1s")
    return value


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"wants 1 or more, not {value}")
    return value


def name_list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Load benchmark: mock upstream (nginx) vs nginx hop vs polyrelay (vs any other gateway), "
                    "driven by wrk on 127.0.0.1. Needs nginx and wrk (apt-get install -y nginx wrk).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Targets: 'direct' (the upstream itself), 'nginx-hop' (nginx proxying to it), 'polyrelay' "
               "(started here), plus each --target. A --target gateway must serve the model groups "
               "bench-json and bench-stream routed to the bench upstream: --print-config prints a "
               "LiteLLM-format config.yaml that does (see bench/README.md).")
    p.add_argument("--duration", type=seconds, default=5, metavar="S",
                   help="length of each wrk run, e.g. 5 or 10s or 1m (default: 5s)")
    p.add_argument("--warmup", type=seconds_or_zero, default=1, metavar="S",
                   help="unrecorded warm-up per target and kind, at 16 connections (default: 1s)")
    p.add_argument("--connections", type=int_list, default=[1, 16, 64], metavar="N,N,...",
                   help="connection counts (default: 1,16,64)")
    p.add_argument("--kinds", type=name_list, default=list(KINDS), metavar="chat,stream",
                   help="chat = non-streaming, stream = streaming with stream_options.include_usage "
                        "(default: both)")
    p.add_argument("--scenario", action="append", choices=["plain", "keys", "cache", "callbacks"], dest="scenarios",
                   help="plain: no auth (default). keys: virtual key + rpm limit + budget + spend logging "
                        "(needs /key/generate on the gateway, issue 7). cache: the local response cache with 100%% "
                        "hits (cache-local) and a Redis cache with 50%% hits (cache-redis). callbacks: Langfuse, "
                        "OpenTelemetry and a custom async callback on, sinks on 127.0.0.1. Repeatable.")
    p.add_argument("--callbacks", type=name_list, default=["langfuse", "otel", "custom"],
                   metavar="langfuse,otel,custom",
                   help="the callbacks scenario's callbacks (default: all three; to see what each costs)")
    p.add_argument("--rounds", type=positive_int, default=1, metavar="N",
                   help="measure each scenario's runs N times, each right after polyrelay plain's run of the "
                        "same kind and connections (the order reversed every other round), and report each "
                        "round's ratio and their median: on a noisy machine a far steadier comparison than one "
                        "run of each taken minutes apart (default: 1)")
    p.add_argument("--keys-db", type=name_list, default=["sqlite"], metavar="sqlite,postgres",
                   help="database(s) for the keys scenario; rows are labelled keys-sqlite / keys-postgres "
                        "(default: sqlite; postgres starts a PostgreSQL server of its own)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="polyrelay --num_workers (default: 1)")
    p.add_argument("--target", action="append", default=[], metavar="NAME=URL",
                   help="another OpenAI-compatible gateway already running on loopback, configured with "
                        "--print-config's model groups (repeatable), e.g. litellm=http://127.0.0.1:4000")
    p.add_argument("--target-key", action="append", default=[], metavar="NAME=KEY",
                   help="send 'Authorization: Bearer KEY' to that --target (e.g. LiteLLM's master_key)")
    p.add_argument("--target-header", action="append", default=[], metavar="NAME=HEADER: VALUE",
                   help="send this header to that --target; {upstream} in the value becomes the bench "
                        "upstream's base URL for the kind (e.g. for Portkey: "
                        "'portkey=x-portkey-custom-host: {upstream}')")
    p.add_argument("--only", type=name_list, metavar="NAME,...",
                   help="measure only these targets (names: direct, nginx-hop, polyrelay, --target names)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="wrk threads (at most the connection count; default: 1, leaving the other core "
                        "to the target on a 2-core machine)")
    p.add_argument("--timeout", type=seconds, default=10, metavar="S",
                   help="wrk's per-request timeout; slower answers count as timeout errors (default: 10s)")
    p.add_argument("--nginx-workers", type=int, default=1, metavar="N",
                   help="worker processes of the upstream and hop nginx (default: 1)")
    p.add_argument("--base-port", type=int, default=18800, metavar="PORT",
                   help="ports used: upstream JSON +1, SSE +2; hop +11, +12; polyrelay +20 (keys: +21 SQLite, "
                        "+22 PostgreSQL); PostgreSQL +30 (default: 18800)")
    p.add_argument("--python", default=None, metavar="PATH",
                   help="interpreter for the gateway (default: the repo's .venv, else this one)")
    p.add_argument("--soak", type=seconds, metavar="S",
                   help="instead of the matrix: S seconds of steady mixed load (chat and stream) on polyrelay "
                        "(or --soak-target; with --scenario callbacks, polyrelay with its callbacks on), "
                        "sampling its RSS; reports min/max/drift")
    p.add_argument("--soak-interval", type=float, default=5.0, metavar="S", help="RSS sample interval (default: 5)")
    p.add_argument("--soak-connections", type=int, default=16, metavar="N", help="soak connections (default: 16)")
    p.add_argument("--soak-warmup", type=int, default=15, metavar="S",
                   help="load before the first RSS sample (default: 15): the sink process's and the spend drain's "
                        "batches take ~10 s to reach their working size, which is start-up, not drift")
    p.add_argument("--soak-target", default="polyrelay", metavar="NAME", help="target to soak (default: polyrelay)")
    p.add_argument("--profile", type=seconds, metavar="S",
                   help="instead of the matrix: profile polyrelay (with --scenario callbacks or keys: "
                        "with its callbacks on / called with a virtual key) with py-spy for S seconds under load (--profile-kind, "
                        "--profile-connections) and print the hot spots")
    p.add_argument("--profile-kind", choices=("chat", "stream"), default="chat",
                   help="request kind during --profile (default: chat)")
    p.add_argument("--profile-connections", type=int, default=16, metavar="N",
                   help="connections during --profile (default: 16)")
    p.add_argument("--py-spy", default=None, metavar="PATH", help="py-spy binary (default: on PATH)")
    p.add_argument("--print-config", action="store_true",
                   help="print the LiteLLM-format gateway config for the bench upstream and exit")
    p.add_argument("--serve", action="store_true",
                   help="start the upstream, the hop and polyrelay, print their URLs, wait for Ctrl-C")
    p.add_argument("--results-dir", default=os.path.join(HERE, "results"), metavar="DIR",
                   help="where the JSON results go (default: bench/results)")
    p.add_argument("--keep-workdir", action="store_true", help="keep the temp dir with configs and logs")
    return p


def check_tools() -> None:
    missing = [t for t in ("nginx", "wrk") if shutil.which(t) is None]
    if missing:
        raise SystemExit(f"bench/run.py: missing {', '.join(missing)}: apt-get update && "
                         f"apt-get install -y {' '.join(missing)}")


def check_ports(ports: upstream.Ports, wanted: list[int]) -> None:
    busy = [p for p in wanted if not procs.port_free(p)]
    if busy:
        raise SystemExit(f"bench/run.py: port(s) {busy} on 127.0.0.1 are in use (a bench still running?); "
                         "pick others with --base-port")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.scenarios = args.scenarios or ["plain"]
    bad = [db for db in args.keys_db if db not in ("sqlite", "postgres")]
    if bad:
        raise SystemExit(f"bench/run.py: --keys-db takes sqlite and/or postgres, not {', '.join(bad)}")
    ports = upstream.Ports(args.base_port)
    if args.print_config:
        sys.stdout.write(upstream.gateway_config(ports))
        return 0
    for text in args.target:
        try:
            parse_target_arg(text)
        except ValueError as exc:
            raise SystemExit(f"bench/run.py: {exc}")
    check_tools()
    if args.profile:
        args.py_spy = args.py_spy or shutil.which("py-spy")
        if not args.py_spy or not os.access(args.py_spy, os.X_OK):
            raise SystemExit("bench/run.py: --profile needs py-spy: install it outside the project "
                             "(python3 -m venv /tmp/prof && /tmp/prof/bin/pip install py-spy) "
                             "and pass --py-spy /tmp/prof/bin/py-spy")
    check_ports(ports, [ports.upstream_json, ports.upstream_stream, ports.hop_json, ports.hop_stream,
                        ports.polyrelay, ports.polyrelay_keys, ports.polyrelay_keys_pg, ports.postgres,
                        ports.polyrelay_cache_local, ports.polyrelay_cache_redis, ports.redis, ports.sinks,
                        ports.polyrelay_callbacks])

    def on_term(signum, frame):
        raise KeyboardInterrupt

    # Explicitly, also for SIGINT: a shell starts background jobs with SIGINT
    # ignored, and Python then leaves it so.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_term)
    workdir = tempfile.mkdtemp(prefix="polyrelay-bench-")
    os.chmod(workdir, 0o755)
    processes = procs.Processes()
    bench = Bench(args, workdir, processes)
    complete = False
    try:
        log(f"polyrelay bench: work dir {workdir}")
        bench.start_references()
        wanted = args.only
        if args.soak or args.profile or args.serve or (
                "plain" in args.scenarios and (wanted is None or "polyrelay" in wanted)):
            bench.add_polyrelay()
        bench.add_extra_targets()
        if args.serve:
            if "callbacks" in args.scenarios:
                bench.targets.append(modes.setup_callbacks_target(bench))
            for t in bench.targets:
                log(f"  {t.name:<12} {' '.join(sorted(set(t.urls.values())))}")
            log("serving; Ctrl-C stops everything")
            while True:
                time.sleep(3600)
        if args.profile or args.soak:
            name = "polyrelay" if args.profile else args.soak_target
            target = next((t for t in bench.targets if t.name == name), None)
            if name == "polyrelay" and "callbacks" in args.scenarios:
                # --scenario callbacks: profile / soak the gateway with its sinks on
                target = modes.setup_callbacks_target(bench)
            elif name == "polyrelay" and "keys" in args.scenarios:
                # --scenario keys: the keyed path, on the first --keys-db
                target = modes.setup_keys_target(bench, args.keys_db[0])
            if target is None:
                raise SystemExit(f"bench/run.py: no target {name!r} to {'profile' if args.profile else 'soak'}")
            problem = bench.smoke(target, "chat", wait=30)
            if problem:
                raise SystemExit(f"bench/run.py: {name} does not answer the bench request: {problem}")
            if args.profile:
                modes.run_profile(bench, target)
            else:
                modes.run_soak(bench, target)
        else:
            chosen = [t for t in bench.targets if wanted is None or t.name in wanted]
            plain_polyrelay = next((t for t in chosen if t.name == "polyrelay"), None)
            in_rounds = args.rounds > 1 and "plain" in args.scenarios and plain_polyrelay is not None
            if "plain" in args.scenarios:
                bench.run_matrix([t for t in chosen if not (in_rounds and t is plain_polyrelay)])
            later = []  # with --rounds: (scenario target, what to check after its runs)

            def measure_scenario(target, after=None):
                if target is None:
                    return
                bench.targets.append(target)
                if in_rounds:
                    later.append((target, after))
                    return
                bench.run_matrix([target])
                if after is not None:
                    after(target)

            if "keys" in args.scenarios:
                for db in args.keys_db:
                    measure_scenario(modes.setup_keys_target(bench, db),
                                     lambda t: modes.check_keys_spend(bench, t.scenario))
            if "cache" in args.scenarios:
                for backend in ("local", "redis"):
                    measure_scenario(modes.setup_cache_target(bench, backend))
            if "callbacks" in args.scenarios:
                measure_scenario(modes.setup_callbacks_target(bench), lambda t: modes.callbacks_delivered(bench, t))
            if in_rounds:
                bench.run_paired(plain_polyrelay, [t for t, _ in later], args.rounds)
                for target, after in later:
                    if after is not None:
                        after(target)
        complete = True
    except KeyboardInterrupt:
        log("\ninterrupted: stopping everything")
    except RuntimeError as exc:
        log(f"\nbench/run.py: {exc}")
    finally:
        processes.stop_all()
        if args.keep_workdir:
            log(f"work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.serve or not (bench.rows or bench.soak or bench.profile):
        return 0 if complete else 1
    results = bench.results(complete)
    bench.print_summary(results)
    path = bench.write(results)
    log(f"\nresults: {os.path.relpath(path, os.getcwd())}")
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
