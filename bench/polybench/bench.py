"""The run: start the references and polyrelay, add the user's targets,
measure each with wrk, and summarise (table, ratios, goals, JSON).

The other modes and the keys scenario are in modes.py; bench/run.py is the
command line.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time

from . import procs, report, upstream, wrk
from .targets import (KINDS, Target, chat_url, check_answer, parse_target_arg, parse_target_headers, post,
                      url_port)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def log(message: str = "", end: str = "\n") -> None:
    print(message, end=end, flush=True)


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: str, processes: procs.Processes) -> None:
        self.args = args
        self.workdir = workdir
        self.procs = processes
        self.ports = upstream.Ports(args.base_port)
        self.rows: list[dict] = []
        self.notes: list[str] = []
        self.targets: list[Target] = []
        self.extra_names: list[str] = []
        self.soak: dict | None = None
        self.callbacks: dict | None = None  # delivered/dropped counts of the callbacks scenario
        self.profile: dict | None = None
        self.scripts = 0
        self.keys_info: dict[str, str] = {}
        self.keys_spend: dict[str, dict] = {}
        self.started = _dt.datetime.now().astimezone()

    # -- starting things ----------------------------------------------------

    def start_nginx(self, name: str, conf: str, ports: list[int]) -> subprocess.Popen:
        path = os.path.join(self.workdir, f"{name}.conf")
        with open(path, "w") as f:
            f.write(conf)
        argv = ["nginx", "-p", self.workdir, "-e", os.path.join(self.workdir, f"{name}-error.log"), "-c", path]
        process = self.procs.start(name, argv, os.path.join(self.workdir, f"{name}.out"))
        for port in ports:
            procs.wait_port(port, process, f"nginx ({name})", seconds=10)
        return process

    def start_references(self) -> None:
        root = os.geteuid() == 0
        p = self.ports
        log(f"- starting the mock upstream (nginx, {self.args.nginx_workers} worker) on "
            f"127.0.0.1:{p.upstream_json} (JSON) and :{p.upstream_stream} (SSE)")
        up = self.start_nginx("upstream", upstream.upstream_conf(self.workdir, p, self.args.nginx_workers, root),
                              [p.upstream_json, p.upstream_stream])
        log(f"- starting the nginx hop on 127.0.0.1:{p.hop_json} and :{p.hop_stream}")
        hop = self.start_nginx("hop", upstream.hop_conf(self.workdir, p, self.args.nginx_workers, root),
                               [p.hop_json, p.hop_stream])
        self.targets.append(Target("direct", "reference", {
            "chat": f"http://127.0.0.1:{p.upstream_json}/v1/chat/completions",
            "stream": f"http://127.0.0.1:{p.upstream_stream}/v1/chat/completions"}, roots=[up.pid]))
        self.targets.append(Target("nginx-hop", "reference", {
            "chat": f"http://127.0.0.1:{p.hop_json}/v1/chat/completions",
            "stream": f"http://127.0.0.1:{p.hop_stream}/v1/chat/completions"}, roots=[hop.pid]))

    def python(self) -> str:
        if self.args.python:
            return self.args.python
        venv = os.path.join(REPO, ".venv", "bin", "python")
        return venv if os.path.exists(venv) else sys.executable

    def start_polyrelay(self, name: str, port: int, config_text: str,
                        env: dict[str, str] | None = None) -> subprocess.Popen:
        path = os.path.join(self.workdir, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(config_text)
        argv = [self.python(), "-m", "polyrelay.gateway.cli", "--config", path, "--host", "127.0.0.1",
                "--port", str(port), "--num_workers", str(self.args.workers)]
        log(f"- starting polyrelay ({name}, {self.args.workers} worker{'s' if self.args.workers > 1 else ''}) "
            f"on 127.0.0.1:{port}")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        process = self.procs.start(name, argv, os.path.join(self.workdir, f"{name}.log"), env=env, cwd=self.workdir)
        try:
            procs.wait_port(port, process, name, seconds=60)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n--- {name}.log (tail) ---\n{self.log_tail(name + '.log')}") from None
        return process

    def log_tail(self, filename: str, lines: int = 30) -> str:
        try:
            with open(os.path.join(self.workdir, filename), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"

    def add_polyrelay(self) -> None:
        port = self.ports.polyrelay
        try:
            process = self.start_polyrelay("polyrelay", port, upstream.gateway_config(self.ports))
        except RuntimeError as exc:
            self.note(f"polyrelay did not start: {exc}")
            return
        url = chat_url(f"http://127.0.0.1:{port}")
        self.targets.append(Target("polyrelay", "gateway", {k: url for k in KINDS}, roots=[process.pid]))

    def add_extra_targets(self) -> None:
        keys = {}
        for text in self.args.target_key:
            name, sep, key = text.partition("=")
            if not sep or not key:
                raise SystemExit(f"bench/run.py: --target-key wants NAME=KEY, got {name!r}=...")
            keys[name.strip()] = key.strip()
        extra_headers = parse_target_headers(self.args.target_header, "bench/run.py")
        upstreams = {"chat": f"http://127.0.0.1:{self.ports.upstream_json}/v1",
                     "stream": f"http://127.0.0.1:{self.ports.upstream_stream}/v1"}
        for text in self.args.target:
            name, url = parse_target_arg(text)
            if name in ("direct", "nginx-hop", "polyrelay") or name in self.extra_names:
                raise SystemExit(f"bench/run.py: --target name {name!r} is taken")
            roots = procs.listening_pids(url_port(url))
            headers = {"Authorization": f"Bearer {keys[name]}"} if name in keys else {}
            headers.update(extra_headers.get(name, {}))
            full = chat_url(url)
            self.targets.append(Target(name, "gateway", {k: full for k in KINDS}, headers=headers, roots=roots,
                                       upstreams=upstreams))
            self.extra_names.append(name)
            found = f"measuring pid(s) {roots}" if roots else "its process was not found: no CPU/RSS for it"
            log(f"- extra target {name}: {full} ({found})")

    def note(self, text: str) -> None:
        self.notes.append(text)
        log(f"! {text}")

    # -- measuring ------------------------------------------------------------

    def run_wrk(self, target: Target, script: str, url: str, connections: int, duration: int) -> wrk.WrkResult:
        self.scripts += 1
        path = os.path.join(self.workdir, f"wrk-{self.scripts:03d}.lua")
        with open(path, "w") as f:
            f.write(script)
        threads = max(1, min(self.args.threads, connections))
        argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
                "--timeout", f"{self.args.timeout}s", "-s", path, url]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + self.args.timeout + 30)
        try:
            return wrk.parse(done.stdout, require_hook=True)
        except wrk.WrkParseError as exc:
            raise RuntimeError(f"{exc}\nwrk stderr: {done.stderr.strip()[:500]}") from None

    def smoke(self, target: Target, kind: str, wait: float = 0.0) -> str | None:
        """Ask once and check the answer (retrying up to ``wait`` seconds
        while a gateway starts). Targets other than ours are held to the
        lenient check, with the difference noted."""
        deadline = time.monotonic() + wait
        while True:
            try:
                status, data = post(target.urls[kind], target.body(kind), target.headers_for(kind), timeout=30)
                problem = check_answer(kind, status, data)
                if problem is not None and target.name not in ("polyrelay", "direct", "nginx-hop"):
                    if check_answer(kind, status, data, strict=False) is None:
                        self.note(f"{target.name} {kind}: measured, but its answer differs from OpenAI's: {problem}")
                        problem = None
            except OSError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if problem is None or time.monotonic() >= deadline:
                return problem
            time.sleep(0.2)

    def measure(self, target: Target, kind: str, connections: int, index: int, total: int) -> None:
        script = target.script(kind)
        log(f"  [{index:>2}/{total}] {target.name:<12} {target.scenario:<13} {kind:<6} c={connections:<3} "
            f"{self.args.duration}s ... ", end="")
        before = procs.read_usage(target.roots) if target.roots else None
        try:
            result = self.run_wrk(target, script, target.urls[kind], connections, self.args.duration)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            log(f"failed: {exc}")
            self.rows.append(report.make_row(target.name, target.scenario, kind, connections,
                                             note=f"wrk failed: {str(exc).splitlines()[0]}"))
            return
        cpu = rss = None
        if before is not None:
            after = procs.read_usage(target.roots)
            cpu, rss = procs.cpu_percent(before, after), after.rss_kb / 1024
        row = report.make_row(target.name, target.scenario, kind, connections, result, cpu, rss)
        self.rows.append(row)
        extra = f"  CPU {cpu:.0f}%  RSS {rss:.1f} MB" if cpu is not None else ""
        errors = f"  errors {row['errors']:,}" if row["errors"] else ""
        log(f"{report.fmt_rps(row['rps'])} req/s  p50 {report.fmt_ms(row['p50_ms'])} ms  "
            f"p99 {report.fmt_ms(row['p99_ms'])} ms{errors}{extra}")

    def run_matrix(self, targets: list[Target]) -> None:
        conns, kinds = self.args.connections, [k for k in self.args.kinds if k in KINDS]
        total = len(targets) * len(kinds) * len(conns)
        per_run = self.args.duration + 0.3
        estimate = total * per_run + len(targets) * len(kinds) * self.args.warmup
        log(f"- {total} runs of {self.args.duration}s (about {estimate / 60:.1f} min)")
        index = 0
        for target in targets:
            for kind in kinds:
                problem = self.smoke(target, kind, wait=30 if target.role == "gateway" else 0)
                if problem is not None:
                    self.note(f"{target.name} {target.scenario} {kind}: bad answer to the bench request, "
                              f"not measured: {problem}")
                    for c in conns:
                        index += 1
                        self.rows.append(report.make_row(target.name, target.scenario, kind, c,
                                                         note="bad answer: not measured"))
                    continue
                if self.args.warmup:
                    try:
                        self.run_wrk(target, wrk.post_script(target.body(kind), target.headers_for(kind)),
                                     target.urls[kind], min(16, max(conns)), self.args.warmup)
                    except (RuntimeError, subprocess.TimeoutExpired):
                        pass  # the measured runs will say what is wrong
                for c in conns:
                    index += 1
                    self.measure(target, kind, c, index, total)

    def run_paired(self, baseline: Target, subjects: list[Target], rounds: int) -> None:
        """Each kind x connections: the baseline (polyrelay plain) and each scenario target
        one right after the other, ``rounds`` times, the order reversed every other round
        (so a machine slowing down through a round favours neither). Rows carry their round."""
        conns, kinds = self.args.connections, [k for k in self.args.kinds if k in KINDS]
        targets = [baseline] + subjects
        total = len(targets) * len(kinds) * len(conns) * rounds
        log(f"- {total} runs of {self.args.duration}s in {rounds} rounds (about "
            f"{total * (self.args.duration + 0.3) / 60:.1f} min)")
        index = 0
        for kind in kinds:
            ready = []
            for target in targets:
                problem = self.smoke(target, kind, wait=30)
                if problem is not None:
                    self.note(f"{target.name} {target.scenario} {kind}: bad answer to the bench request, "
                              f"not measured: {problem}")
                    continue
                ready.append(target)
                if self.args.warmup:
                    try:
                        self.run_wrk(target, wrk.post_script(target.body(kind), target.headers_for(kind)),
                                     target.urls[kind], min(16, max(conns)), self.args.warmup)
                    except (RuntimeError, subprocess.TimeoutExpired):
                        pass
            for c in conns:
                for number in range(1, rounds + 1):
                    for target in (ready if number % 2 else ready[::-1]):
                        index += 1
                        self.measure(target, kind, c, index, total)
                        self.rows[-1]["round"] = number

    # -- results ------------------------------------------------------------

    def environment(self) -> dict:
        def out(argv: list[str]) -> str:
            try:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=REPO)
                return (done.stdout + done.stderr).strip().splitlines()[0]
            except (OSError, subprocess.SubprocessError, IndexError):
                return ""
        cpu = ""
        try:
            with open("/proc/cpuinfo") as f:
                cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
        except OSError:
            pass
        dirty = out(["git", "status", "--porcelain", "--untracked-files=no"])
        return {"cpus": os.cpu_count(), "cpu_model": cpu, "kernel": platform.release(),
                "python_bench": platform.python_version(), "gateway_python": self.python(),
                "nginx": out(["nginx", "-v"]), "wrk": out(["wrk", "--version"]),
                "polyrelay_commit": out(["git", "rev-parse", "--short", "HEAD"]) + ("+dirty" if dirty else "")}

    def results(self, complete: bool) -> dict:
        subjects = [t.name for t in self.targets if t.role == "gateway"]
        subjects = list(dict.fromkeys(subjects))
        ratios = report.ratios(self.rows, subjects, self.extra_names)
        paired = report.paired_ratios(self.rows)
        in_rounds = {item["scenario"] for item in paired}
        keys_ratios = [item for scenario in dict.fromkeys(r["scenario"] for r in self.rows)
                       if scenario != "plain" and scenario not in in_rounds
                       for item in report.ratios(self.rows, ["polyrelay"], [], scenario=scenario)]
        return {
            "started": self.started.isoformat(timespec="seconds"), "complete": complete,
            "options": {k: v for k, v in vars(self.args).items() if k not in ("target_key", "target_header")},
            "environment": self.environment(),
            "targets": [t.describe() for t in self.targets],
            "rows": self.rows, "ratios": ratios + keys_ratios, "paired": paired,
            "added_latency_at_1_connection": {s: report.added_latency(self.rows, s) for s in subjects},
            "goals": report.goal_checks(self.rows, self.extra_names),
            "keys_spend": self.keys_spend, "callbacks": self.callbacks, "soak": self.soak, "profile": self.profile,
            "notes": self.notes,
        }

    def print_summary(self, results: dict) -> None:
        if self.rows:
            log("\nResults (errors = non-2xx + socket errors; CPU % of one core and RSS after the run, "
                "summed over the target's processes)\n")
            log(report.results_table(self.rows))
        if results["ratios"]:
            log("\nThroughput ratios (req/s of the target ÷ req/s of the other, same kind and connections)\n")
            log(report.ratios_table(results["ratios"]))
        if results.get("paired"):
            log("\nScenario ÷ plain in rounds (each round: the two runs one right after the other)\n")
            log(report.paired_table(results["paired"]))
        added = results["added_latency_at_1_connection"]
        if any(added.values()):
            log("\nAdded latency at 1 connection (target − direct upstream)")
            for subject, kinds in added.items():
                for kind, d in kinds.items():
                    if d["p50_ms"] is None:
                        continue
                    log(f"  {subject:<12} {kind:<6} p50 {report.fmt_ms(d['p50_ms'], True)} ms   "
                        f"p99 {report.fmt_ms(d['p99_ms'], True)} ms")
        judged = [g for g in results["goals"] if g["ok"] is not None]
        if judged:
            log("\nIssue 8 targets this run can judge")
            for g in judged:
                mark = "PASS" if g["ok"] else "FAIL"
                value = "-" if g["value"] is None else (f"{g['value']:.3f}" if g["unit"] == "ms" else
                                                        f"{g['value']:.2f}")
                log(f"  {mark}  {g['goal']}: {value}{' ' + g['unit'] if g['value'] is not None else ''}")
        if self.soak:
            s = self.soak
            log(f"\nSoak: {s['target']} {s['seconds']}s at {s['connections']} connections: "
                f"{report.fmt_rps(s['rps'])} req/s, {s['errors']:,} errors, CPU {s['cpu_percent']:.0f}%")
            if s.get("samples"):
                log(f"  RSS MB: first {s['first_mb']:.1f}  last {s['last_mb']:.1f}  min {s['min_mb']:.1f}  "
                    f"max {s['max_mb']:.1f}  drift {s['drift']:+.1%}  spread {s['spread']:.1%}  "
                    f"({'flat within ±10%' if s['flat'] else 'NOT flat within ±10%'})")
        for n in self.notes:
            log(f"note: {n}")

    def write(self, results: dict) -> str:
        os.makedirs(self.args.results_dir, exist_ok=True)
        path = os.path.join(self.args.results_dir, self.started.strftime("%Y%m%d-%H%M%S") + ".json")
        with open(path, "w") as f:
            json.dump(results, f, indent=2, default=str)
            f.write("\n")
        return path
