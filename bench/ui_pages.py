"""How fast the admin UI's pages answer over a big spend table.

    .venv/bin/python bench/ui_pages.py                 # 1,000,000 rows, SQLite
    .venv/bin/python bench/ui_pages.py --rows 200000 --keep /tmp/ui-bench

Fills a fresh SQLite database with synthetic spend records spread over
the last 30 days (50 keys, 8 teams, 6 models, ~3%
failures), starts a real gateway on 127.0.0.1 against it, signs in to /ui
and times each page (after timing the migration that builds the hourly
roll-ups from the records): the first load and the median of --repeat more. One
request at a time: this measures page latency, not throughput.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

MASTER = "sk-bench-ui"
PAGES = ["/ui?range=24h", "/ui?range=7d", "/ui?range=30d", "/ui/keys", "/ui/teams", "/ui/customers",
         "/ui/models", "/ui/logs", "/ui/logs?status=failure", "/ui/logs?model=model-3&team=team-2",
         "/ui/logs?key=key-7"]


def fill(path: Path, rows: int, seed: int = 7) -> float:
    """Records written straight into a database at migration 0004 (before the
    roll-ups), so that migrating it afterwards measures the roll-ups' backfill."""
    from importlib import resources

    from alembic import command
    from alembic.config import Config

    from polyrelay.store.database import Database

    database = Database(f"sqlite:///{path}")
    config = Config()
    config.set_main_option("script_location", str(resources.files("polyrelay.store") / "migrations"))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
    database.dispose()
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    started = time.perf_counter()
    conn = sqlite3.connect(path)
    fmt = "%Y-%m-%d %H:%M:%S.%f"  # what SQLAlchemy writes for SQLite
    created = now.strftime(fmt)
    conn.executemany("INSERT INTO keys (token_hash, key_name, key_alias, team_id, spend, blocked, created_at) "
                     "VALUES (?, ?, ?, ?, 0, 0, ?)",
                     [(f"{i:064x}", f"sk-...{i:04d}", f"key-{i}", f"team-{i % 8}", created) for i in range(50)])
    conn.executemany("INSERT INTO teams (team_id, team_alias, spend, blocked, created_at) VALUES (?, ?, 0, 0, ?)",
                     [(f"team-{i}", f"Team {i}", created) for i in range(8)])
    conn.executemany("INSERT INTO customers (user_id, spend, blocked, created_at) VALUES (?, 0, 0, ?)",
                     [(f"user-{i}", created) for i in range(200)])
    batch = []
    for i in range(rows):
        at = now - timedelta(seconds=rng.random() * 30 * 86400)
        key = rng.randrange(50)
        failed = rng.random() < 0.03
        prompt, completion = rng.randrange(10, 2000), 0 if failed else rng.randrange(1, 800)
        latency = rng.lognormvariate(6.0, 0.6)
        batch.append((f"req-{i:08d}", "chat_completions", f"{key:064x}", f"team-{key % 8}", f"user-{rng.randrange(200)}",
                      f"model-{rng.randrange(6)}", "mock/x", f"dep-{rng.randrange(6)}", "mock", prompt, completion,
                      prompt + completion, 0.0 if failed else (prompt * 1e-6 + completion * 3e-6),
                      at.strftime(fmt), (at + timedelta(milliseconds=latency)).strftime(fmt), latency,
                      "failure" if failed else "success"))
        if len(batch) == 20000:
            _insert(conn, batch)
            batch = []
    _insert(conn, batch)
    # The running totals the drain would have kept.
    conn.execute("UPDATE keys SET spend = (SELECT coalesce(sum(spend), 0) FROM spend_logs WHERE api_key = token_hash)")
    conn.execute("UPDATE keys SET max_budget = 100, budget_duration = '30d' WHERE CAST(substr(key_alias, 5) AS INTEGER) % 3 = 0")
    conn.execute("UPDATE teams SET spend = (SELECT coalesce(sum(spend), 0) FROM spend_logs s WHERE s.team_id = teams.team_id)")
    conn.commit()
    conn.close()
    return time.perf_counter() - started


def _insert(conn, batch):
    conn.executemany("INSERT INTO spend_logs (request_id, call_type, api_key, team_id, end_user, model_group, model, "
                     "model_id, provider, prompt_tokens, completion_tokens, total_tokens, spend, start_time, end_time, "
                     "latency_ms, status, cached_tokens) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0)", batch)


def serve(folder: Path, port: int) -> subprocess.Popen:
    config = folder / "config.yaml"
    config.write_text("model_list:\n" + "".join(
        f"  - model_name: model-{i}\n    litellm_params: {{model: mock/m{i}}}\n    model_info: {{id: dep-{i}}}\n"
        for i in range(6)) + f"general_settings:\n  master_key: {MASTER}\n  database_url: sqlite:///{folder}/ui.db\n")
    process = subprocess.Popen([sys.executable, "-m", "polyrelay.gateway.cli", "--config", str(config), "--host",
                                "127.0.0.1", "--port", str(port)], cwd=folder, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/readiness", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the gateway did not start")


def screenshots(base: str, folder: Path) -> None:
    """The docs' pictures (docs/img): the pages over the benchmark's data."""
    from playwright.sync_api import sync_playwright

    folder.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(base + "/ui/login")
        page.fill("input[name=password]", MASTER)
        page.click("button[type=submit]")
        for path, name in (("/ui?range=7d", "ui-overview"), ("/ui/keys", "ui-keys"), ("/ui/logs", "ui-logs"),
                           ("/ui/models", "ui-models")):
            page.goto(base + path)
            page.screenshot(path=str(folder / f"{name}.png"))
        page.goto(base + "/ui/keys")
        page.click("details.panel summary")
        page.fill("#create-key input[name=key_alias]", "billing-service")
        page.select_option("#create-key select[name=models]", ["model-1", "model-2"])
        page.fill("#create-key input[name=max_budget]", "50")
        page.fill("#create-key input[name=budget_duration]", "30d")
        page.fill("#create-key input[name=rpm_limit]", "600")
        page.screenshot(path=str(folder / "ui-key-form.png"))
        page.click("#create-key button[type=submit]")
        page.screenshot(path=str(folder / "ui-key-created.png"))
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--port", type=int, default=4799)
    parser.add_argument("--keep", help="a folder to keep the database in (reused if it holds one)")
    parser.add_argument("--screenshots", help="also save screenshots of the pages here (chromium via Playwright)")
    args = parser.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="polyrelay-ui-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "ui.db").exists():
        seconds = fill(folder / "ui.db", args.rows)
        print(f"filled {args.rows:,} spend rows in {seconds:.1f}s ({os.path.getsize(folder / 'ui.db') / 1e6:.0f} MB)")
    from polyrelay.store.database import Database

    started = time.perf_counter()
    Database(f"sqlite:///{folder / 'ui.db'}").migrate()  # what the gateway's start does; timed here
    print(f"migrated (roll-up backfill included) in {time.perf_counter() - started:.1f}s")
    process = serve(folder, args.port)
    try:
        base = f"http://127.0.0.1:{args.port}"
        client = httpx.Client(base_url=base, headers={"origin": base}, timeout=120)
        token = re.search(r'name="login_token" value="([^"]+)"', client.get("/ui/login").text).group(1)
        assert client.post("/ui/login", data={"login_token": token, "password": MASTER}).status_code == 303
        print(f"{'page':45} {'first ms':>9} {'median ms':>10} {'KB':>6}")
        for page in PAGES:
            times = []
            for _ in range(args.repeat + 1):
                started = time.perf_counter()
                answer = client.get(page)
                times.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, (page, answer.status_code)
            print(f"{page:45} {times[0]:9.0f} {statistics.median(times[1:]):10.0f} {len(answer.content) / 1024:6.1f}")
        if args.screenshots:
            screenshots(base, Path(args.screenshots))
    finally:
        process.terminate()
        process.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
