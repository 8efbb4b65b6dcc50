"""The scale-out fault drill (docs/deploy.md, "Faults"): three gateways on one
PostgreSQL and one Redis behind an nginx using deploy/nginx.conf, under mixed
concurrent load from the openai SDK (keys with budgets, keys with rpm limits,
keys with neither; streams and not). Mid-load, Redis is restarted, then
PostgreSQL, then one gateway is killed with ``kill -9`` and started again on
its own spool.

What is asserted is money and records, not zero errors during a fault: every
answered call has exactly one spend row, no key's spend is counted twice, a
budget never overshoots by more than one call's reservation, an rpm limit
holds across the instances to within one request — in every phase where
Redis is up, including keys created once it is back. What clients saw in
each phase is printed (``pytest -s``) and written up in docs/deploy.md.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import inspect
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai
import psycopg

import services
from gateway_process import GatewayProcess, free_port
from test_deploy_files import _answers, _nginx_config, _wait, nginx_binary  # noqa: F401  (a fixture)

MASTER = "sk-drill-master-9876"
PRICE = 0.001  # USD per token, in and out
MAX_TOKENS = 16
RPM_LIMIT = 8
BUDGET_CALLS = 12  # a budget key's max_budget, in calls of the measured size
CALLERS = 16  # concurrent callers (more starves a shared 2-core machine: Redis calls time out)
INSTANCES = 3
REDIS_RETRY_SECONDS = 5.0  # router/state.py: a degraded instance tries Redis again after this
CONFIG = f"""
model_list:
  - model_name: cheap
    litellm_params: {{model: mock/cheap, mock_delay: 0.05}}
    model_info: {{input_cost_per_token: {PRICE}, output_cost_per_token: {PRICE}}}
general_settings:
  master_key: os.environ/POLYRELAY_MASTER_KEY
  database_url: os.environ/DATABASE_URL
  spend_spool_dir: os.environ/POLYRELAY_SPOOL_DIR
router_settings:
  redis_url: os.environ/REDIS_URL
"""
HELLO = [{"role": "user", "content": "hi"}]


@dataclass
class Call:
    phase: str
    key: str  # the key's label (kind-phase-n)
    stream: bool
    outcome: str  # "200", "429", "400", "502", ..., "connection error", "stream cut"
    call_id: str | None
    answered: bool


@dataclass
class Phase:
    name: str
    keys: dict[str, str] = field(default_factory=dict)  # label -> key
    strict: bool = True  # Redis up for the whole phase: limits must hold
    events: list[str] = field(default_factory=list)


class Drill:
    def __init__(self, base: str) -> None:
        self.base = base
        self.calls: list[Call] = []
        self.phase: Phase | None = None
        self.stopping = False
        self.examples: dict[str, str] = {}  # status -> one message clients got with it

    def new_phase(self, name: str, strict: bool = True) -> Phase:
        """Fresh keys for a phase: two rpm-limited, two budgeted, two free."""
        phase = Phase(name, strict=strict)
        for kind, fields in (("rpm", {"rpm_limit": RPM_LIMIT}), ("budget", {"max_budget": self.budget}),
                             ("free", {})):
            for n in range(2):
                made = httpx.post(self.base + "/key/generate", json=fields, timeout=20,
                                  headers={"Authorization": f"Bearer {MASTER}"})
                assert made.status_code == 200, made.text
                phase.keys[f"{kind}-{name}-{n}"] = made.json()["key"]
        self.phase = phase
        return phase

    async def caller(self, n: int) -> None:
        clients: dict[str, openai.AsyncOpenAI] = {}
        turn = n
        while not self.stopping:
            phase = self.phase
            labels = sorted(phase.keys)
            label = labels[turn % len(labels)]
            turn += 1
            key = phase.keys[label]
            client = clients.get(key) or clients.setdefault(key, openai.AsyncOpenAI(
                base_url=self.base + "/v1", api_key=key, max_retries=0, timeout=30))
            stream = turn % 2 == 0
            call = await self.one(client, phase.name, label, stream)
            self.calls.append(call)
            if not call.answered:
                await asyncio.sleep(0.1)  # refused or failed: keep the load bounded
        for client in clients.values():
            await client.close()

    async def one(self, client: openai.AsyncOpenAI, phase: str, label: str, stream: bool) -> Call:
        call_id = None
        try:
            if stream:
                raw = await client.chat.completions.with_raw_response.create(
                    model="cheap", messages=HELLO, max_tokens=MAX_TOKENS, stream=True,
                    stream_options={"include_usage": True})
                call_id = raw.headers.get("x-polyrelay-call-id")
                usage = None
                try:
                    async for chunk in await _parsed(raw):
                        usage = chunk.usage or usage
                except (openai.APIError, httpx.HTTPError):
                    return Call(phase, label, stream, "stream cut", call_id, False)
                if usage is None:
                    return Call(phase, label, stream, "stream cut", call_id, False)
            else:
                raw = await client.chat.completions.with_raw_response.create(
                    model="cheap", messages=HELLO, max_tokens=MAX_TOKENS)
                call_id = raw.headers.get("x-polyrelay-call-id")
                assert (await _parsed(raw)).choices[0].message.content
            return Call(phase, label, stream, "200", call_id, True)
        except openai.APIStatusError as exc:
            self.examples.setdefault(str(exc.status_code), str(exc.message)[:300])
            return Call(phase, label, stream, str(exc.status_code), exc.response.headers.get("x-polyrelay-call-id"),
                        False)
        except (openai.APIConnectionError, httpx.HTTPError):
            return Call(phase, label, stream, "connection error", None, False)


async def _parsed(raw):
    parsed = raw.parse()
    return await parsed if inspect.isawaitable(parsed) else parsed


def _stop_nginx(nginx: subprocess.Popen) -> None:
    nginx.send_signal(signal.SIGQUIT)
    try:
        nginx.wait(timeout=10)
    except subprocess.TimeoutExpired:
        nginx.kill()
        nginx.wait()


def test_three_instances_survive_redis_postgres_and_a_kill_9_mid_load(nginx_binary):  # noqa: F811
    redis = services.RedisServer().start()
    postgres = services.PostgresServer().start()
    database = services.new_database(postgres.url, f"drill_{uuid.uuid4().hex[:10]}")
    workdir = Path(tempfile.mkdtemp(prefix="polyrelay-drill-"))
    gateways: list[GatewayProcess] = []
    nginx = None
    try:
        for n in range(INSTANCES):
            spool = workdir / f"spool-{n}"
            spool.mkdir()
            gateways.append(GatewayProcess(CONFIG, env={
                "POLYRELAY_MASTER_KEY": MASTER, "DATABASE_URL": database, "REDIS_URL": redis.url,
                "POLYRELAY_SPOOL_DIR": str(spool)}).start())
        listen = free_port()
        nginx = subprocess.Popen([nginx_binary, "-p", str(workdir), "-c",
                                  str(_nginx_config([g.port for g in gateways], listen, workdir)),
                                  "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{listen}"
        assert _wait(lambda: _answers(base)), (workdir / "error.log").read_text(errors="replace")

        # One call's size: what a budget is counted in, and what one reservation can be.
        probe = openai.OpenAI(base_url=base + "/v1", api_key=MASTER, max_retries=0)
        raw = probe.chat.completions.with_raw_response.create(model="cheap", messages=HELLO, max_tokens=MAX_TOKENS)
        one = float(raw.headers["x-polyrelay-response-cost"])
        reservation = (raw.parse().usage.prompt_tokens + MAX_TOKENS) * PRICE
        assert 0 < one <= reservation
        drill = Drill(base)
        drill.budget = one * BUDGET_CALLS
        phases = asyncio.run(_run(drill, redis, postgres, gateways))

        # ----------------------------------------------------------- the records
        answered = {c.call_id: c for c in drill.calls if c.answered}
        assert all(answered) and len(answered) == sum(c.answered for c in drill.calls)  # ids are unique
        keys = {label: key for phase in phases for label, key in phase.keys.items()}
        with psycopg.connect(database) as conn:
            def rows():
                return conn.execute("SELECT request_id, count(*), sum(spend), min(start_time), min(status) "
                                    "FROM spend_logs GROUP BY request_id").fetchall()
            # Everything waits in spools until the drains store it: a few seconds after the load.
            deadline = time.monotonic() + 60
            while not set(answered) <= {r[0] for r in rows()} and time.monotonic() < deadline:
                conn.commit()
                time.sleep(0.5)
            time.sleep(2)  # and no late second copy of anything
            conn.commit()
            stored = {r[0]: r for r in rows()}
            key_spend = {label: conn.execute("SELECT spend FROM keys WHERE token_hash = %s",
                                             (hashlib.sha256(key.encode()).hexdigest(),)).fetchone()
                         for label, key in keys.items()}
        lost = sorted(set(answered) - set(stored))
        assert not lost, f"{len(lost)} answered calls have no spend row: {lost[:5]}"
        assert all(r[1] == 1 for r in stored.values())  # one row per call, none twice
        assert {stored[i][4] for i in answered} == {"success"}

        report = _report(drill, phases, stored, keys, key_spend, one)
        print(report)
        exhausted = []
        for phase in phases:
            for label in phase.keys:
                calls = [c for c in drill.calls if c.key == label and c.answered]
                spent = sum(stored[c.call_id][2] for c in calls)
                # The key's total grew by exactly its rows: nothing counted twice, nothing missed.
                assert key_spend[label] is not None and abs(key_spend[label][0] - spent) < 1e-9, (label, spent)
                if not phase.strict:
                    continue
                if label.startswith("budget"):
                    assert spent <= drill.budget + reservation + 1e-9, (label, spent, drill.budget)
                    exhausted.append(spent >= drill.budget - reservation - 1e-9)
                if label.startswith("rpm"):
                    per_minute = collections.Counter(int(stored[c.call_id][3].timestamp() // 60) for c in calls)
                    assert max(per_minute.values()) <= RPM_LIMIT + 1, (label, per_minute)
        assert any(exhausted)  # the budgets were reached (and held), not merely never approached
        assert any(c.outcome == "429" for c in drill.calls)
        statuses = collections.Counter(c.outcome for c in drill.calls)
        assert "500" not in statuses, report
    finally:
        if nginx is not None:
            _stop_nginx(nginx)
            if os.environ.get("DRILL_LOGS") and (workdir / "error.log").exists():
                shutil.copy(workdir / "error.log", Path(os.environ["DRILL_LOGS"], "nginx-error.log"))
        for n, gateway in enumerate(gateways):
            if os.environ.get("DRILL_LOGS"):  # keep each gateway's log for a look afterwards
                Path(os.environ["DRILL_LOGS"], f"gateway-{n}.log").write_text(gateway.log)
            gateway.stop()
        postgres.close()
        redis.close()
        shutil.rmtree(workdir, ignore_errors=True)


async def _run(drill: Drill, redis: services.RedisServer, postgres: services.PostgresServer,
               gateways: list[GatewayProcess]) -> list[Phase]:
    phases = [await asyncio.to_thread(drill.new_phase, "steady")]
    callers = [asyncio.create_task(drill.caller(n)) for n in range(CALLERS)]

    async def phase(name: str, seconds: float, strict: bool = True) -> Phase:
        made = await asyncio.to_thread(drill.new_phase, name, strict)
        phases.append(made)
        await asyncio.sleep(seconds)
        return made

    try:
        await asyncio.sleep(5)
        # Redis: stopped for 2 s, then started again (empty, as without a volume).
        during = await phase("redis-restart", 0, strict=False)
        await asyncio.to_thread(redis.stop)
        during.events.append("redis stopped")
        await asyncio.sleep(2)
        await asyncio.to_thread(redis.start)
        during.events.append("redis started")
        await asyncio.sleep(REDIS_RETRY_SECONDS + 1)  # every instance is back on Redis
        await phase("redis-back", 5)
        # PostgreSQL: a fast shutdown (clients disconnected), down 3 s, started again.
        pg = await phase("postgres-restart", 0)
        await asyncio.to_thread(postgres.stop, "fast")
        pg.events.append("postgres stopped")
        await asyncio.sleep(3)
        await asyncio.to_thread(postgres.start)
        pg.events.append("postgres started")
        await asyncio.sleep(4)
        # kill -9 one gateway mid-load; it comes back on its own spool.
        killed = await phase("kill-9", 0)
        victim = gateways[1]
        os.kill(victim.proc.pid, signal.SIGKILL)
        await asyncio.to_thread(victim.proc.wait)
        killed.events.append("gateway killed")
        await asyncio.sleep(2)
        await asyncio.to_thread(victim.start)
        killed.events.append("gateway restarted")
        await asyncio.sleep(4)
    finally:
        drill.stopping = True
        await asyncio.gather(*callers)
    return phases


def _report(drill: Drill, phases: list[Phase], stored, keys, key_spend, one: float) -> str:
    lines = ["", f"fault drill: {INSTANCES} gateways, {CALLERS} callers, {len(drill.calls)} calls, "
                 f"budget {BUDGET_CALLS} calls, rpm_limit {RPM_LIMIT}"]
    for phase in phases:
        calls = [c for c in drill.calls if c.phase == phase.name]
        outcomes = collections.Counter(c.outcome for c in calls)
        lines.append(f"  {phase.name:17} {len(calls):5} calls  " + ", ".join(
            f"{k}: {v}" for k, v in sorted(outcomes.items())) + (f"  [{'; '.join(phase.events)}]"
                                                                 if phase.events else ""))
        for kind in ("rpm", "budget"):
            worst = []
            for label in phase.keys:
                if label.startswith(kind):
                    answered = [c for c in calls if c.key == label and c.answered]
                    if kind == "rpm":
                        per_minute = collections.Counter(int(stored[c.call_id][3].timestamp() // 60)
                                                         for c in answered)
                        worst.append(max(per_minute.values(), default=0))
                    else:
                        worst.append(round(sum(stored[c.call_id][2] for c in answered) / one, 2))
            what = f"answered per minute (limit {RPM_LIMIT})" if kind == "rpm" else \
                f"spent, in calls (budget {BUDGET_CALLS})"
            lines.append(f"      {kind} keys: {what}: {worst}")
    lines += [f"  {status}: {message}" for status, message in sorted(drill.examples.items())]
    return "\n".join(lines)
