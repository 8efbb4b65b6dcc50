"""Virtual keys, budgets, limits and spend through a real gateway process,
on SQLite (the default) — and, with two processes, on a real PostgreSQL
and Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import httpx
import openai
import pytest

import services
from gateway_process import GatewayProcess

MASTER = "sk-master-for-tests-1234"
ADMIN = {"Authorization": f"Bearer {MASTER}"}
HELLO = [{"role": "user", "content": "hi"}]

CONFIG = """
model_list:
  - model_name: cheap
    litellm_params: {model: mock/cheap, mock_delay: %(delay)s}
    model_info: {input_cost_per_token: 0.001, output_cost_per_token: 0.001}
  - model_name: other
    litellm_params: {model: mock/other}
general_settings:
  master_key: %(master)s
%(extra)s
"""


def config(delay: float = 0.0, extra: str = "") -> str:
    return CONFIG % {"delay": delay, "master": MASTER, "extra": extra}


@pytest.fixture(scope="module")
def gateway():
    process = GatewayProcess(config()).start()
    yield process
    process.stop()


def admin(gw, path, body=None, method="POST", **params):
    response = httpx.request(method, gw.url + path, json=body, params=params, headers=ADMIN, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def new_key(gw, **fields):
    return admin(gw, "/key/generate", fields)["key"]


def chat(gw, key, model="cheap", **extra):
    return httpx.post(gw.url + "/v1/chat/completions", json={"model": model, "messages": HELLO, **extra},
                      headers={"Authorization": f"Bearer {key}"}, timeout=20)


def wait_for(predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_key_lifecycle_and_who_may_manage(gateway):
    created = admin(gateway, "/key/generate", {"models": ["cheap"], "max_budget": 10, "rpm_limit": 100,
                                               "metadata": {"app": "ci"}, "key_alias": "lifecycle"})
    key = created["key"]
    assert key.startswith("sk-") and created["token"] != key and created["key_name"].endswith(key[-4:])

    info = httpx.get(gateway.url + "/key/info", params={"key": key}, headers=ADMIN).json()
    assert info["key"] == key and info["info"]["models"] == ["cheap"] and info["info"]["spend"] == 0
    own = httpx.get(gateway.url + "/key/info", headers={"Authorization": f"Bearer {key}"}).json()
    assert own["info"]["key_alias"] == "lifecycle"

    other = new_key(gateway)
    denied = httpx.get(gateway.url + "/key/info", params={"key": other}, headers={"Authorization": f"Bearer {key}"})
    assert denied.status_code == 403 and denied.json()["error"]["type"] == "permission_error"
    refused = httpx.post(gateway.url + "/key/generate", json={}, headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 403

    client = openai.OpenAI(api_key=key, base_url=gateway.url)
    assert client.chat.completions.create(model="cheap", messages=HELLO).choices[0].message.content
    with pytest.raises(openai.PermissionDeniedError, match="may not call model 'other'"):
        client.chat.completions.create(model="other", messages=HELLO)

    renewed = admin(gateway, "/key/regenerate", {"key": key})["key"]
    assert chat(gateway, key).status_code == 401
    assert chat(gateway, renewed).status_code == 200
    admin(gateway, "/key/update", {"key": renewed, "models": ["cheap", "other"]})
    assert chat(gateway, renewed, model="other").status_code == 200
    assert admin(gateway, "/key/delete", {"keys": [renewed]})["deleted"] == 1
    gone = chat(gateway, renewed)
    assert gone.status_code == 401 and gone.json()["error"]["code"] == "invalid_api_key"


def test_every_call_lands_in_the_spend_log_with_its_call_id(gateway):
    key = new_key(gateway)
    response = chat(gateway, key, user="end-user-42", metadata={"trace_id": "t-1"})
    call_id = response.headers["x-polyrelay-call-id"]
    cost = float(response.headers["x-polyrelay-response-cost"])
    usage = response.json()["usage"]
    assert cost == pytest.approx((usage["prompt_tokens"] + usage["completion_tokens"]) * 0.001)

    logs = wait_for(lambda: httpx.get(gateway.url + "/spend/logs", params={"api_key": key}, headers=ADMIN).json())
    (record,) = logs
    assert record["request_id"] == call_id and record["status"] == "success"
    assert record["end_user"] == "end-user-42" and record["metadata"] == {"trace_id": "t-1"}
    assert record["model_group"] == "cheap" and record["spend"] == pytest.approx(cost)
    assert record["prompt_tokens"] == usage["prompt_tokens"] and record["total_tokens"] == usage["total_tokens"]
    info = wait_for(lambda: (i := httpx.get(gateway.url + "/key/info", params={"key": key}, headers=ADMIN).json())
                    ["info"]["spend"] > 0 and i)
    assert info["info"]["spend"] == pytest.approx(cost)
    customer = admin(gateway, "/customer/info", method="GET", end_user_id="end-user-42")
    assert customer["customer_info"]["spend"] >= cost
    # A key reads only its own spend, whatever it asks for.
    mine = httpx.get(gateway.url + "/spend/logs", params={"api_key": "someone-else"},
                     headers={"Authorization": f"Bearer {key}"}).json()
    assert [r["request_id"] for r in mine] == [call_id]


def test_streams_are_billed_too(gateway):
    key = new_key(gateway)
    client = openai.OpenAI(api_key=key, base_url=gateway.url)
    chunks = list(client.chat.completions.create(model="cheap", messages=HELLO, stream=True,
                                                 stream_options={"include_usage": True}))
    usage = chunks[-1].usage
    logs = wait_for(lambda: httpx.get(gateway.url + "/spend/logs", params={"api_key": key}, headers=ADMIN).json())
    assert logs[0]["completion_tokens"] == usage.completion_tokens
    assert logs[0]["spend"] == pytest.approx((usage.prompt_tokens + usage.completion_tokens) * 0.001)


def test_rpm_limit_answers_429_before_any_call(gateway):
    key = new_key(gateway, rpm_limit=2)
    assert [chat(gateway, key).status_code for _ in range(2)] == [200, 200]
    third = chat(gateway, key)
    assert third.status_code == 429 and "rpm_limit" in third.json()["error"]["message"]
    assert third.json()["error"]["type"] == "rate_limit_error"


def test_expired_and_blocked_keys(gateway):
    expiring = new_key(gateway, duration="1s")
    time.sleep(1.2)
    assert chat(gateway, expiring).status_code == 401
    blocked = new_key(gateway)
    admin(gateway, "/key/update", {"key": blocked, "blocked": True})
    assert chat(gateway, blocked).status_code == 403


def test_injection_attempts_are_just_wrong_keys(gateway):
    for hostile in ("' OR '1'='1", "sk-x'; DROP TABLE keys; --"):
        assert chat(gateway, hostile).status_code == 401
        assert httpx.get(gateway.url + "/spend/logs", params={"api_key": hostile, "user_id": hostile},
                         headers=ADMIN).json() == []
    assert chat(gateway, new_key(gateway)).status_code == 200  # the tables are still there


def test_users_teams_and_end_user_budgets(gateway):
    admin(gateway, "/team/new", {"team_id": "team-a", "models": ["cheap"]})
    user = admin(gateway, "/user/new", {"user_id": "alice", "max_budget": 100})
    assert user["key"].startswith("sk-")
    team_key = new_key(gateway, team_id="team-a", user_id="alice")
    assert chat(gateway, team_key, model="other").status_code == 403  # the team's model list applies
    assert admin(gateway, "/team/info", method="GET", team_id="team-a")["keys"][0]["team_id"] == "team-a"

    admin(gateway, "/customer/new", {"user_id": "tiny-budget", "max_budget": 0.001})
    first = chat(gateway, team_key, user="tiny-budget")
    assert first.status_code == 200
    refused = wait_for(lambda: (r := chat(gateway, team_key, user="tiny-budget")).status_code == 400 and r)
    assert refused.json()["error"]["code"] == "budget_exceeded" and "end user" in refused.json()["error"]["message"]
    wait_for(lambda: any(row["group"] == "team-a" and row["spend"] > 0
                         for row in admin(gateway, "/global/spend/report", method="GET", group_by="team")))


def test_bad_management_input_is_a_clear_400(gateway):
    wrong = httpx.post(gateway.url + "/key/generate", json={"max_budget": "lots"}, headers=ADMIN)
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "max_budget"
    duration = httpx.post(gateway.url + "/key/generate", json={"budget_duration": "forever"}, headers=ADMIN)
    assert duration.status_code == 400 and "budget_duration" in duration.json()["error"]["message"]
    missing = httpx.post(gateway.url + "/key/update", json={"key": "sk-nope", "max_budget": 1}, headers=ADMIN)
    assert missing.status_code == 404


def test_fifty_concurrent_requests_against_a_budget_for_ten():
    process = GatewayProcess(config(delay=0.3)).start()
    try:
        probe = new_key(process)
        one = float(chat(process, probe).headers["x-polyrelay-response-cost"])
        key = new_key(process, max_budget=one * 10)

        async def burst():
            async with httpx.AsyncClient(timeout=30) as client:
                return await asyncio.gather(*(client.post(
                    process.url + "/v1/chat/completions", json={"model": "cheap", "messages": HELLO, "max_tokens": 12},
                    headers={"Authorization": f"Bearer {key}"}) for _ in range(50)))

        statuses = [r.status_code for r in asyncio.run(burst())]
        assert set(statuses) <= {200, 400}
        accepted = statuses.count(200)
        # Each request reserves its prompt plus max_tokens (12) of output while
        # real answers use ~10: what fits is admitted, and at most one more.
        assert 8 <= accepted <= 11, statuses
        spent = wait_for(lambda: (s := httpx.get(process.url + "/key/info", params={"key": key},
                                                 headers=ADMIN).json()["info"]["spend"]) >= one * accepted * 0.99 and s)
        assert spent <= one * 11 + 1e-9
    finally:
        process.stop()


def test_kill_9_mid_load_loses_no_accepted_request(tmp_path):
    extra = (f"  database_url: sqlite:///{tmp_path / 'shared.db'}\n"
             f"  spend_spool_dir: {tmp_path / 'spool'}\n")
    first = GatewayProcess(config(extra=extra)).start()
    key = new_key(first)
    accepted = []
    for _ in range(40):
        response = chat(first, key)
        assert response.status_code == 200
        accepted.append(response.headers["x-polyrelay-call-id"])
    os.kill(first.proc.pid, signal.SIGKILL)  # no shutdown, no final flush
    first.proc.wait()
    first.stop()
    second = GatewayProcess(config(extra=extra)).start()
    try:
        logs = httpx.get(second.url + "/spend/logs", params={"api_key": key, "page_size": 1000}, headers=ADMIN).json()
        assert {r["request_id"] for r in logs} >= set(accepted)
        assert len(logs) == len(accepted)
    finally:
        second.stop()


def test_two_gateways_share_one_rpm_limit_and_budget(postgres_admin_url, redis_url):
    database = services.new_database(postgres_admin_url, f"gw_{uuid.uuid4().hex[:10]}")
    extra = f"  database_url: {database}\nrouter_settings:\n  redis_url: {redis_url}\n"
    east, west = GatewayProcess(config(extra=extra)).start(), GatewayProcess(config(extra=extra)).start()
    try:
        limited = new_key(east, rpm_limit=4)
        statuses = [chat(gw, limited).status_code for gw in (east, west, east, west, east, west)]
        assert statuses.count(200) == 4 and statuses.count(429) == 2, statuses

        one = float(chat(east, new_key(east)).headers["x-polyrelay-response-cost"])
        budgeted = new_key(west, max_budget=one * 3.5)
        results = [chat(gw, budgeted).status_code for gw in (east, west, east, west, east, west)]
        assert results[:4] == [200, 200, 200, 200] and set(results[4:]) == {400}, results
        logs = wait_for(lambda: len(r := httpx.get(west.url + "/spend/logs", params={"api_key": budgeted},
                                                   headers=ADMIN).json()) == 4 and r)
        assert {log["status"] for log in logs} == {"success"}
    finally:
        east.stop()
        west.stop()
