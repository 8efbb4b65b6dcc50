"""LiteLLM's per-key fields through a real gateway process: each is stored,
shown by /key/info and enforced on calls — or refused with a 400 naming it.
Also block/unblock, /key/list filters and pages, unique key_alias and /spend/tags."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from gateway_process import GatewayProcess

MASTER = "sk-master-for-key-fields"
ADMIN = {"Authorization": f"Bearer {MASTER}"}
HELLO = [{"role": "user", "content": "hi"}]

CONFIG = f"""
model_list:
  - model_name: cheap
    litellm_params: {{model: mock/cheap}}
    model_info: {{input_cost_per_token: 0.001, output_cost_per_token: 0.001}}
  - model_name: other
    litellm_params: {{model: mock/other}}
    model_info: {{input_cost_per_token: 0.001, output_cost_per_token: 0.001}}
general_settings:
  master_key: {MASTER}
"""


@pytest.fixture(scope="module")
def gw():
    process = GatewayProcess(CONFIG).start()
    yield process
    process.stop()


def post(gw, path, body):
    return httpx.post(gw.url + path, json=body, headers=ADMIN, timeout=10)


def new_key(gw, **fields) -> str:
    response = post(gw, "/key/generate", fields)
    assert response.status_code == 200, response.text
    return response.json()["key"]


def chat(gw, key, model="cheap", **extra):
    return httpx.post(gw.url + "/v1/chat/completions", json={"model": model, "messages": HELLO, **extra},
                      headers={"Authorization": f"Bearer {key}"}, timeout=20)


def info(gw, key):
    return httpx.get(gw.url + "/key/info", params={"key": key}, headers=ADMIN, timeout=10).json()["info"]


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize("field,value", [
    ("permissions", {"get_spend_routes": False}), ("config", {"a": 1}), ("budget_id", "b1"),
    ("organization_id", "o1"), ("enforced_params", ["user"]), ("no_such_field", 1), ("guardrails_typo", []),
])
def test_fields_that_would_change_nothing_are_refused_by_name(gw, field, value):
    response = post(gw, "/key/generate", {field: value})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field
    assert field in response.json()["error"]["message"]


@pytest.mark.parametrize("path,body,field", [
    ("/user/new", {"user_id": "u-x", "send_invite_email": True}, "send_invite_email"),
    ("/team/new", {"team_id": "t-x", "team_member_permissions": []}, "team_member_permissions"),
    ("/customer/new", {"user_id": "c-x", "allowed_model_region": "eu"}, "allowed_model_region"),
    ("/key/delete", {"keys": [], "force": True}, "force"),
])
def test_other_management_routes_refuse_unknown_fields(gw, path, body, field):
    response = post(gw, path, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field


@pytest.mark.parametrize("field,value", [
    ("aliases", {"a": 3}), ("model_max_budget", {"cheap": -1}), ("model_max_budget", {"cheap": {"time_period": "x"}}),
    ("model_rpm_limit", {"cheap": "ten"}), ("soft_budget", -1), ("tags", "one"), ("allowed_routes", ["chat"]),
    ("key_type", "management"),
])
def test_bad_values_are_refused_by_name(gw, field, value):
    response = post(gw, "/key/generate", {field: value})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == field


def test_fields_are_stored_and_shown_by_key_info(gw):
    key = new_key(gw, aliases={"fast": "cheap"}, model_max_budget={"cheap": {"budget_limit": "0.5", "time_period": "1d"}},
                  model_rpm_limit={"cheap": 5}, model_tpm_limit={"cheap": 5000}, soft_budget=0.25,
                  tags=["team-a"], allowed_routes=["llm_api_routes", "/key/info"], key_type="default")
    shown = info(gw, key)
    assert shown["aliases"] == {"fast": "cheap"}
    assert shown["model_max_budget"] == {"cheap": {"budget_limit": 0.5, "time_period": "1d"}}
    assert shown["model_rpm_limit"] == {"cheap": 5} and shown["model_tpm_limit"] == {"cheap": 5000}
    assert shown["soft_budget"] == 0.25 and shown["tags"] == ["team-a"]
    assert shown["allowed_routes"] == ["llm_api_routes", "/key/info"] and shown["key_type"] == "default"


def test_aliases_map_a_name_to_a_group(gw):
    key = new_key(gw, aliases={"fast": "cheap"})
    response = chat(gw, key, model="fast")
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "cheap"
    other = new_key(gw)
    assert chat(gw, other, model="fast").status_code == 400  # no alias: no such group


def test_model_rpm_limit_applies_to_that_model_only(gw):
    key = new_key(gw, model_rpm_limit={"cheap": 2})
    assert [chat(gw, key).status_code for _ in range(3)] == [200, 200, 429]
    assert "per model" in chat(gw, key).json()["error"]["message"]
    assert chat(gw, key, model="other").status_code == 200


def test_model_tpm_limit(gw):
    key = new_key(gw, model_tpm_limit={"cheap": 1})
    assert chat(gw, key).status_code == 200
    assert chat(gw, key).status_code == 429
    assert chat(gw, key, model="other").status_code == 200


def test_model_max_budget_blocks_that_model_only(gw):
    # Each call costs about 0.01 at these prices: the second one is past 0.005.
    key = new_key(gw, model_max_budget={"cheap": 0.005})
    assert chat(gw, key).status_code == 200
    refused = wait_for(lambda: (r := chat(gw, key)).status_code == 400 and r)
    assert refused.json()["error"]["code"] == "budget_exceeded"
    assert "cheap" in refused.json()["error"]["message"]
    assert chat(gw, key, model="other").status_code == 200


def test_model_max_budget_survives_a_restart():
    """The per-model spend is read back from the spend logs, not only kept in memory."""
    process = GatewayProcess(CONFIG).start()
    try:
        key = new_key(process, model_max_budget={"cheap": {"budget_limit": 0.005, "time_period": "30d"}})
        assert chat(process, key).status_code == 200
        wait_for(lambda: httpx.get(process.url + "/spend/logs", params={"api_key": key}, headers=ADMIN).json())
        process.proc.terminate()  # the same working directory, so the same SQLite file
        process.proc.wait(timeout=10)
        process.start()
        response = chat(process, key)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "budget_exceeded"
    finally:
        process.stop()


def test_soft_budget_alerts_but_never_blocks(gw):
    key = new_key(gw, soft_budget=0.001)
    assert all(chat(gw, key).status_code == 200 for _ in range(3))

    def alerted():
        text = httpx.get(gw.url + "/metrics", timeout=10).text
        return [line for line in text.splitlines()
                if line.startswith("polyrelay_soft_budget_alerts_total") and 'kind="key"' in line]
    (line,) = wait_for(alerted)
    assert float(line.split()[-1]) >= 1
    assert "soft budget reached" in gw.log


def test_allowed_routes_and_key_type(gw):
    info_only = new_key(gw, allowed_routes=["/key/info"])
    refused = chat(gw, info_only)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "route_not_allowed"
    assert httpx.get(gw.url + "/key/info", headers={"Authorization": f"Bearer {info_only}"}).status_code == 200

    llm_only = new_key(gw, key_type="llm_api")
    assert chat(gw, llm_only).status_code == 200
    assert httpx.get(gw.url + "/v1/models", headers={"Authorization": f"Bearer {llm_only}"}).status_code == 403

    read_only = new_key(gw, key_type="read_only")
    assert chat(gw, read_only).status_code == 403
    assert httpx.get(gw.url + "/v1/models", headers={"Authorization": f"Bearer {read_only}"}).status_code == 200


def test_tags_on_every_spend_row_and_spend_tags(gw):
    tag = f"proj-{uuid.uuid4().hex[:6]}"
    key = new_key(gw, tags=[tag])
    call_ids = [chat(gw, key, metadata={"tags": ["extra"]}).headers["x-polyrelay-call-id"] for _ in range(2)]
    logs = wait_for(lambda: (rows := httpx.get(gw.url + "/spend/logs", params={"api_key": key}, headers=ADMIN)
                             .json()) and len(rows) == 2 and rows)
    assert {row["request_id"] for row in logs} == set(call_ids)
    assert all(row["request_tags"] == [tag, "extra"] for row in logs)
    report = httpx.get(gw.url + "/spend/tags", headers=ADMIN).json()
    mine = [row for row in report if row["individual_request_tag"] == tag]
    assert mine and mine[0]["log_count"] == 2
    assert abs(mine[0]["total_spend"] - sum(row["spend"] for row in logs)) < 1e-9


def test_block_and_unblock(gw):
    key = new_key(gw)
    assert post(gw, "/key/block", {"key": key}).json()["blocked"] is True
    refused = chat(gw, key)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "key_blocked"
    assert post(gw, "/key/unblock", {"key": key}).json()["blocked"] is False
    assert chat(gw, key).status_code == 200
    assert post(gw, "/key/block", {"key": "sk-none"}).status_code == 404
    assert httpx.post(gw.url + "/key/block", json={"key": key}, headers={"Authorization": f"Bearer {key}"}
                      ).status_code == 403


def test_key_alias_is_unique_and_deletes_by_alias(gw):
    alias = f"svc-{uuid.uuid4().hex[:6]}"
    key = new_key(gw, key_alias=alias)
    again = post(gw, "/key/generate", {"key_alias": alias})
    assert again.status_code == 400 and again.json()["error"]["param"] == "key_alias"
    other = new_key(gw)
    assert post(gw, "/key/update", {"key": other, "key_alias": alias}).status_code == 400
    assert post(gw, "/key/update", {"key": key, "key_alias": alias}).status_code == 200  # its own alias
    assert post(gw, "/key/delete", {"key_aliases": [alias]}).json()["deleted"] == 1
    assert chat(gw, key).status_code == 401


def test_key_list_filters_and_pages(gw):
    user = f"u-{uuid.uuid4().hex[:6]}"
    assert post(gw, "/user/new", {"user_id": user}).status_code == 200  # issues the user one key
    for _ in range(4):
        new_key(gw, user_id=user)
    first = httpx.get(gw.url + "/key/list", params={"user_id": user, "page_size": 2}, headers=ADMIN).json()
    assert first["total_count"] == 5 and first["total_pages"] == 3 and len(first["keys"]) == 2
    pages = [httpx.get(gw.url + "/key/list", params={"user_id": user, "page_size": 2, "page": p}, headers=ADMIN)
             .json()["keys"] for p in (1, 2, 3)]
    assert sum(len(p) for p in pages) == 5 and len({k for p in pages for k in p}) == 5
    full = httpx.get(gw.url + "/key/list", params={"user_id": user, "return_full_object": "true"},
                     headers=ADMIN).json()
    assert all(row["user_id"] == user for row in full["keys"])
    alias = f"one-{uuid.uuid4().hex[:6]}"
    new_key(gw, key_alias=alias)
    assert httpx.get(gw.url + "/key/list", params={"key_alias": alias}, headers=ADMIN).json()["total_count"] == 1
    bad = httpx.get(gw.url + "/key/list", params={"owner": "x"}, headers=ADMIN)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "owner"


def test_gateway_wide_max_budget_is_honoured():
    """litellm_settings.max_budget is one budget over every call, whoever makes it."""
    process = GatewayProcess(CONFIG + "litellm_settings: {max_budget: 0.005, budget_duration: 30d}\n").start()
    try:
        key = new_key(process)
        assert chat(process, key).status_code == 200
        refused = wait_for(lambda: (r := chat(process, key, model="other")).status_code == 400 and r)
        assert refused.json()["error"]["code"] == "budget_exceeded"
        assert "litellm_settings.max_budget" in refused.json()["error"]["message"]
        master = httpx.post(process.url + "/v1/chat/completions", json={"model": "cheap", "messages": HELLO},
                            headers=ADMIN, timeout=20)
        assert master.status_code == 400  # the admin's calls count against it too
    finally:
        process.stop()


def test_spend_logs_keyset_pages(gw):
    key = new_key(gw)
    ids = {chat(gw, key).headers["x-polyrelay-call-id"] for _ in range(5)}
    wait_for(lambda: len(httpx.get(gw.url + "/spend/logs", params={"api_key": key}, headers=ADMIN).json()) == 5)
    seen, after, pages = [], None, 0
    while True:
        params = {"api_key": key, "page_size": 2, **({"after": after} if after else {})}
        response = httpx.get(gw.url + "/spend/logs", params=params, headers=ADMIN)
        seen += [row["request_id"] for row in response.json()]
        pages += 1
        after = response.headers.get("x-polyrelay-next-cursor")
        if after is None:
            break
    assert len(seen) == 5 and set(seen) == ids and pages == 3
    bad = httpx.get(gw.url + "/spend/logs", params={"after": "yesterday"}, headers=ADMIN)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "after"
