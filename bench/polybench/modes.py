"""The keys scenario (virtual key + limits + spend on SQLite or
PostgreSQL), the soak (RSS under steady load) and the profile (py-spy under
load): each a function of a running ``Bench``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

from . import procs, report, upstream, wrk
from .bench import Bench, log
from .targets import KINDS, Target, chat_url, post

MASTER_KEY = "sk-bench-master"


def start_postgres(bench: Bench) -> str | None:
    """A PostgreSQL server of the bench's own, on a loopback port, in the
    work dir (as tests/services.py starts one); stopped with the rest."""
    import glob

    def binary(name: str) -> str | None:
        found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
        return found[-1] if found else shutil.which(name)

    initdb, pg_ctl = binary("initdb"), binary("pg_ctl")
    if not (initdb and pg_ctl):
        bench.note("scenario keys on PostgreSQL: no PostgreSQL server here (apt-get install -y postgresql); skipped")
        return None
    home = os.path.join(bench.workdir, "pg")
    os.makedirs(home)
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        shutil.chown(home, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(home, "data"), bench.ports.postgres
    log(f"- starting PostgreSQL on 127.0.0.1:{port}")
    try:
        subprocess.run([*as_user, initdb, "-D", data, "-A", "trust", "-U", "postgres"], check=True,
                       capture_output=True, timeout=120)
        options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c max_connections=200"
        subprocess.run([*as_user, pg_ctl, "-D", data, "-o", options, "-l", os.path.join(home, "log"), "-w",
                        "start"], check=True, capture_output=True, timeout=120)
    except (subprocess.SubprocessError, OSError) as exc:
        bench.note(f"scenario keys on PostgreSQL: the server did not start ({exc}); skipped")
        return None
    bench.procs.on_stop(lambda: subprocess.run([*as_user, pg_ctl, "-D", data, "-m", "fast", "stop"],
                                              capture_output=True, timeout=60))
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"



def setup_keys_target(bench: Bench, db: str) -> Target | None:
    """The ``keys`` scenario on ``db`` (sqlite | postgres): polyrelay
    with master_key and a database, called with a virtual key that has an
    rpm limit and a budget, so auth, limits and spend logging are all on
    the path. Needs /key/generate (issue 7); without it, says so and
    returns None. Rows are labelled ``keys-<db>``."""
    scenario = f"keys-{db}"
    if db == "postgres":
        database_url = start_postgres(bench)
        if database_url is None:
            return None
        port = bench.ports.polyrelay_keys_pg
    else:
        database_url = f"sqlite:///{os.path.join(bench.workdir, 'keys.db')}"
        port = bench.ports.polyrelay_keys
    config = upstream.gateway_config(bench.ports, master_key=MASTER_KEY, database_url=database_url)
    try:
        process = bench.start_polyrelay(f"polyrelay-{scenario}", port, config)
    except RuntimeError as exc:
        bench.note(f"scenario {scenario}: polyrelay with a database did not start: {exc}")
        return None
    status, data = post(f"http://127.0.0.1:{port}/key/generate",
                        {"models": ["bench-json", "bench-stream"], "rpm_limit": 10_000_000,
                         "max_budget": 1_000_000.0, "budget_duration": "30d",
                         "metadata": {"purpose": "polyrelay bench"}},
                        headers={"Authorization": f"Bearer {MASTER_KEY}"})
    if status in (404, 405):
        bench.note(f"scenario {scenario}: unavailable: this gateway has no POST /key/generate yet "
                  "(virtual keys, issue 7); skipped")
        bench.procs.stop(process)
        return None
    try:
        key = json.loads(data)["key"]
    except (ValueError, KeyError, TypeError):
        bench.note(f"scenario {scenario}: /key/generate answered HTTP {status}: {data[:300]!r}; skipped")
        bench.procs.stop(process)
        return None
    url = chat_url(f"http://127.0.0.1:{port}")
    # Auth must really be on: the same request without the key is refused.
    status, _ = post(url, {"model": "bench-json", "messages": wrk.MESSAGES}, timeout=30)
    if status != 401:
        bench.note(f"scenario {scenario}: a request without a key got HTTP {status}, not 401: "
                  "auth is not enforced?")
    bench.keys_info[scenario] = f"http://127.0.0.1:{port}/key/info?key={key}"
    return Target("polyrelay", "gateway", {k: url for k in KINDS}, headers={"Authorization": f"Bearer {key}"},
                  roots=[process.pid], scenario=scenario)



def check_keys_spend(bench: Bench, scenario: str) -> None:
    """After the keys runs: the key's recorded spend (spend is written in
    batches, so give it a few seconds), to show spend logging was on."""
    import urllib.request

    url = bench.keys_info.get(scenario)
    if not url:
        return
    spend = None
    for _ in range(10):
        try:
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {MASTER_KEY}"})
            with urllib.request.urlopen(request, timeout=10) as response:
                data = json.loads(response.read())
            info = data.get("info", data) if isinstance(data, dict) else {}
            spend = info.get("spend")
        except (OSError, ValueError) as exc:
            bench.note(f"scenario {scenario}: GET /key/info failed: {exc}")
            return
        if spend:
            break
        time.sleep(1)
    requests = sum(r["requests"] or 0 for r in bench.rows if r["scenario"] == scenario)
    bench.keys_spend[scenario] = {"spend_usd": spend, "requests_measured": requests}
    bench.note(f"scenario {scenario}: the virtual key's recorded spend after the runs: {spend!r} USD "
              f"(over {requests:,} measured requests plus warm-ups and checks)")



def setup_cache_target(bench: Bench, backend: str) -> Target | None:
    """The ``cache-local`` scenario (the local cache, every request the same:
    100% hits after the first) or ``cache-redis`` (a Redis server of the
    bench's own, every other request a new prompt: 50% hits). Rows are
    labelled by scenario; compare with ``plain`` from the same run."""
    scenario = f"cache-{backend}"
    if backend == "redis":
        binary = shutil.which("redis-server")
        if binary is None:
            bench.note(f"scenario {scenario}: no redis-server here (apt-get install -y redis-server); skipped")
            return None
        port = bench.ports.redis
        log(f"- starting redis-server on 127.0.0.1:{port}")
        redis = bench.procs.start("redis", [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                            "--appendonly", "no", "--dir", bench.workdir],
                                  os.path.join(bench.workdir, "redis.log"), cwd=bench.workdir)
        procs.wait_port(port, redis, "redis-server", seconds=20)
        params, gateway_port = {"type": "redis", "host": "127.0.0.1", "port": port}, bench.ports.polyrelay_cache_redis
    else:
        params, gateway_port = {"type": "local"}, bench.ports.polyrelay_cache_local
    config = upstream.gateway_config(bench.ports, cache_params=params,  # its own database: see callbacks
                                     database_url=f"sqlite:///{os.path.join(bench.workdir, scenario + '.db')}")
    try:
        process = bench.start_polyrelay(f"polyrelay-{scenario}", gateway_port, config)
    except RuntimeError as exc:
        bench.note(f"scenario {scenario}: polyrelay with a cache did not start: {exc}")
        return None
    url = chat_url(f"http://127.0.0.1:{gateway_port}")
    return Target("polyrelay", "gateway", {k: url for k in KINDS}, roots=[process.pid], scenario=scenario,
                  half_new=(backend == "redis"))


CALLBACK_MODULE = '''
from polyrelay.integrations.custom_logger import CustomLogger


class BenchLogger(CustomLogger):
    """A custom async callback that reads the payload, as a real one would."""

    def __init__(self):
        super().__init__()
        self.calls = 0
        self.tokens = 0

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.calls += 1
        self.tokens += kwargs["standard_logging_object"]["total_tokens"]


handler = BenchLogger()
'''


def setup_callbacks_target(bench: Bench) -> Target | None:
    """The ``callbacks`` scenario (issue 14): polyrelay with Langfuse, OpenTelemetry
    (OTLP/HTTP) and a custom async CustomLogger on, the two sinks answered by the
    bench's nginx on 127.0.0.1. Compare with ``plain`` from the same run."""
    with open(os.path.join(bench.workdir, "bench_callbacks.py"), "w") as f:
        f.write(CALLBACK_MODULE)  # beside the config: loaded as module.instance
    sinks = f"http://127.0.0.1:{bench.ports.sinks}"
    env = {"LANGFUSE_PUBLIC_KEY": "pk-lf-bench", "LANGFUSE_SECRET_KEY": "sk-lf-bench", "LANGFUSE_HOST": sinks,
           "OTEL_EXPORTER_OTLP_ENDPOINT": sinks, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
           "OTEL_SERVICE_NAME": "polyrelay-bench"}
    chosen = getattr(bench.args, "callbacks", None) or ["langfuse", "otel", "custom"]
    unknown = sorted(set(chosen) - {"langfuse", "otel", "custom"})
    if unknown:
        raise SystemExit(f"bench/run.py: --callbacks takes langfuse, otel and custom, not {', '.join(unknown)}")
    names = [("bench_callbacks.handler" if name == "custom" else name) for name in chosen]
    # A database of its own: on the plain gateway's, the two spend drains share one spool and
    # each works through the other's records during the other's runs.
    config = upstream.gateway_config(bench.ports, callbacks=names,
                                     database_url=f"sqlite:///{os.path.join(bench.workdir, 'callbacks.db')}")
    try:
        process = bench.start_polyrelay("polyrelay-callbacks", bench.ports.polyrelay_callbacks, config, env=env)
    except RuntimeError as exc:
        bench.note(f"scenario callbacks: polyrelay with callbacks did not start: {exc}")
        return None
    url = chat_url(f"http://127.0.0.1:{bench.ports.polyrelay_callbacks}")
    scenario = "callbacks" if len(chosen) == 3 else "callbacks-" + "+".join(chosen)
    return Target("polyrelay", "gateway", {k: url for k in KINDS}, roots=[process.pid], scenario=scenario)


def callbacks_delivered(bench: Bench, target: Target) -> None:
    """After the runs: what the sinks got, from the gateway's own counters (a bench
    where every record was dropped would measure nothing)."""
    import urllib.request

    base = target.urls["chat"].split("/v1/")[0]
    try:
        text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    except OSError as exc:
        bench.note(f"scenario callbacks: /metrics unreadable ({exc})")
        return
    counts = {}
    for line in text.splitlines():
        if line.startswith(("polyrelay_callback_events_delivered_total", "polyrelay_callback_events_dropped_total")):
            name, value = line.rsplit(" ", 1)
            counts[name] = float(value)
    bench.callbacks = counts
    log("  callback records: " + ", ".join(f"{k.split('_total')[0].rsplit('_', 1)[-1]}"
                                            f"{k[k.index('{'):]}={v:.0f}" for k, v in sorted(counts.items())))


def run_soak(bench: Bench, target: Target) -> None:
    a = bench.args
    bodies = [target.body(k) for k in KINDS]
    if len(set(target.urls.values())) != 1 or "{upstream}" in "".join(target.headers.values()):
        bodies = [target.body("chat")]  # one URL / header set per kind: soak the chat one
    if not target.roots:
        raise SystemExit(f"bench/run.py: cannot soak {target.name}: its process was not found, no RSS to read")
    log(f"- soak: {target.name}, {a.soak}s at {a.soak_connections} connections, chat and stream alternately; "
        f"RSS every {a.soak_interval:g}s (after a {a.soak_warmup:g}s warm-up)")
    script = wrk.mixed_script(bodies, target.headers_for("chat"))
    bench.run_wrk(target, script, target.urls["chat"], a.soak_connections, max(a.soak_warmup, 1))
    path = os.path.join(bench.workdir, "soak.lua")
    with open(path, "w") as f:
        f.write(script)
    argv = ["wrk", "-t", str(max(1, min(a.threads, a.soak_connections))), "-c", str(a.soak_connections),
            "-d", f"{a.soak}s", "--timeout", f"{a.timeout}s", "-s", path, target.urls["chat"]]
    out_path = os.path.join(bench.workdir, "soak-wrk.out")
    with open(out_path, "w") as out:
        load = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        samples: list[dict] = []
        start = time.monotonic()
        before = procs.read_usage(target.roots)
        try:
            while load.poll() is None:
                usage = procs.read_usage(target.roots)
                samples.append({"t": round(usage.when - start, 2), "rss_mb": usage.rss_kb / 1024})
                log(f"  t={usage.when - start:6.1f}s  RSS {usage.rss_kb / 1024:7.1f} MB")
                deadline = time.monotonic() + a.soak_interval
                while load.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.1)
            load.wait(timeout=a.timeout + 30)
        finally:
            if load.poll() is None:
                load.kill()
                load.wait()
    after = procs.read_usage(target.roots)
    samples.append({"t": round(after.when - start, 2), "rss_mb": after.rss_kb / 1024})
    with open(out_path) as f:
        result = wrk.parse(f.read(), require_hook=True)
    summary = report.soak_summary([s["rss_mb"] for s in samples])
    bench.soak = {"target": target.name, "seconds": a.soak, "connections": a.soak_connections,
                 "cpu_percent": procs.cpu_percent(before, after), "wrk": result.to_dict(),
                 "rps": result.rps, "errors": result.error_count, "samples": samples, **summary}



def run_profile(bench: Bench, target: Target) -> None:
    from polybench import profile

    a = bench.args
    spy = a.py_spy or shutil.which("py-spy")
    if not spy:
        raise SystemExit("bench/run.py: --profile needs py-spy: install it outside the project "
                         "(python3 -m venv /tmp/prof && /tmp/prof/bin/pip install py-spy) "
                         "and pass --py-spy /tmp/prof/bin/py-spy")
    raw = os.path.join(bench.workdir, "profile.txt")
    conns, kind = a.profile_connections, a.profile_kind
    log(f"- profile: {target.name} under {conns}-connection {kind} load, py-spy for {a.profile}s")
    script_path = os.path.join(bench.workdir, "profile.lua")
    with open(script_path, "w") as f:
        f.write(wrk.post_script(target.body(kind), target.headers_for(kind)))
    load = subprocess.Popen(["wrk", "-t", "1", "-c", str(conns), "-d", f"{a.profile + 4}s", "--timeout",
                             f"{a.timeout}s", "-s", script_path, target.urls[kind]],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(1.5)
        argv = [spy, "record", "--gil", "--format", "raw", "--rate", "200", "--duration", str(a.profile),
                "--output", raw, "--pid", str(target.roots[0])]
        if a.workers > 1:
            argv.append("--subprocesses")
        spied = subprocess.run(argv, capture_output=True, text=True, timeout=a.profile + 60)
        out, _ = load.communicate(timeout=a.profile + a.timeout + 30)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    if spied.returncode != 0 or not os.path.exists(raw):
        raise SystemExit(f"bench/run.py: py-spy failed ({spied.returncode}): {spied.stderr.strip()[-800:]}")
    with open(raw) as f:
        text = f.read()
    spots = profile.hot_spots(text, top=25)
    result = wrk.parse(out, require_hook=True)
    stamp = bench.started.strftime("%Y%m%d-%H%M%S")
    os.makedirs(a.results_dir, exist_ok=True)
    kept = os.path.join(a.results_dir, f"profile-{stamp}.txt")
    shutil.copyfile(raw, kept)
    bench.profile = {"target": target.name, "seconds": a.profile, "connections": conns,
                    "rps_under_profiler": result.rps,
                    "collapsed_stacks": kept, **spots}
    log(f"  load under the profiler: {report.fmt_rps(result.rps)} req/s; collapsed stacks kept in {kept} "
        "(flamegraph.pl or speedscope read them)")
    log(profile.format_hot_spots(spots, top=25))
