"""The gateway while its PostgreSQL restarts (found by the fault drill,
tests/deploy/test_fault_drill.py): a request that needs the database answers
503 in OpenAI's error format, never a bare 500; a key the instance already
knows keeps working on what it knew; nothing answered meanwhile loses its
spend record."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

import services
from gateway_process import GatewayProcess
from polyrelay.gateway.keys import VirtualKeys
from polyrelay.store.database import Database, is_unavailable

MASTER = "sk-outage-master-4321"
ADMIN = {"Authorization": f"Bearer {MASTER}"}
CONFIG = f"""
model_list:
  - model_name: cheap
    litellm_params: {{model: mock/cheap}}
    model_info: {{input_cost_per_token: 0.001, output_cost_per_token: 0.001}}
general_settings:
  master_key: {MASTER}
  database_url: os.environ/DATABASE_URL
"""


def chat(gateway: GatewayProcess, key: str) -> httpx.Response:
    return httpx.post(gateway.url + "/v1/chat/completions", json={"model": "cheap", "messages": [
        {"role": "user", "content": "hi"}]}, headers={"Authorization": f"Bearer {key}"}, timeout=20)


def test_a_postgres_restart_answers_503_not_500_and_loses_nothing():
    postgres = services.PostgresServer().start()
    database = services.new_database(postgres.url, f"outage_{uuid.uuid4().hex[:10]}")
    gateway = GatewayProcess(CONFIG, env={"DATABASE_URL": database}).start()
    try:
        known, unseen = (httpx.post(gateway.url + "/key/generate", json={"max_budget": 10}, headers=ADMIN,
                                    timeout=10).json()["key"] for _ in range(2))
        answered = [chat(gateway, known)]
        assert answered[0].status_code == 200

        postgres.stop("fast")
        answered.append(chat(gateway, known))  # known to this instance: served, its record waits in the spool
        assert answered[-1].status_code == 200, answered[-1].text
        refused = chat(gateway, unseen)  # needs the database to be looked up
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["type"] == "service_unavailable_error"
        assert "database" in refused.json()["error"]["message"] and refused.headers["retry-after"] == "1"
        assert "Traceback" not in gateway.log and "Exception in ASGI application" not in gateway.log

        postgres.start()
        assert chat(gateway, unseen).status_code == 200
        ids = {r.headers["x-polyrelay-call-id"] for r in answered}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            logs = httpx.get(gateway.url + "/spend/logs", params={"api_key": known}, headers=ADMIN, timeout=10).json()
            if {log["request_id"] for log in logs} >= ids:
                break
            time.sleep(0.3)
        assert sorted(log["request_id"] for log in logs) == sorted(ids)  # each once
    finally:
        gateway.stop()
        postgres.close()


def test_a_known_key_outlives_its_cache_while_the_database_is_down():
    """Past the key cache's lifetime the record is read again; if the database
    cannot answer, the last record known serves (an unknown key still fails)."""
    postgres = services.PostgresServer().start()
    database = services.new_database(postgres.url, f"keys_{uuid.uuid4().hex[:10]}")
    gateway = GatewayProcess(CONFIG, env={"DATABASE_URL": database}).start()
    key = httpx.post(gateway.url + "/key/generate", json={"rpm_limit": 5}, headers=ADMIN, timeout=10).json()["key"]
    gateway.stop()  # the schema and the key are in place
    db = Database(database)
    keys = VirtualKeys(db, cache_seconds=0)  # every lookup goes to the database

    async def go():
        first = await keys.entry(key)
        postgres.stop("fast")
        again = await keys.entry(key)
        with pytest.raises(Exception) as unknown:
            await keys.entry("sk-never-seen")
        return first, again, unknown.value

    try:
        first, again, unknown = asyncio.run(go())
        assert first is not None and again is first and again.key["rpm_limit"] == 5
        assert is_unavailable(unknown)
    finally:
        db.dispose()
        postgres.close()
