"""Team membership, blocking and lists through a real gateway process."""

from __future__ import annotations

import uuid

import httpx
import pytest

from gateway_process import GatewayProcess

MASTER = "sk-master-for-teams"
ADMIN = {"Authorization": f"Bearer {MASTER}"}
HELLO = [{"role": "user", "content": "hi"}]
CONFIG = f"""
model_list:
  - model_name: m
    litellm_params: {{model: mock/m}}
general_settings:
  master_key: {MASTER}
"""


@pytest.fixture(scope="module")
def gw():
    process = GatewayProcess(CONFIG).start()
    yield process
    process.stop()


def post(gw, path, body, headers=ADMIN):
    return httpx.post(gw.url + path, json=body, headers=headers, timeout=10)


def get(gw, path, **params):
    return httpx.get(gw.url + path, params=params, headers=ADMIN, timeout=10)


def test_members_are_added_listed_and_removed(gw):
    team, user = f"t-{uuid.uuid4().hex[:6]}", f"u-{uuid.uuid4().hex[:6]}"
    assert post(gw, "/team/new", {"team_id": team}).status_code == 200
    added = post(gw, "/team/member_add", {"team_id": team, "member": {"role": "user", "user_id": user}})
    assert added.status_code == 200 and added.json()["members"] == [user]
    assert get(gw, "/user/info", user_id=user).status_code == 200  # created as LiteLLM does
    assert [t["team_id"] for t in get(gw, "/team/list", user_id=user).json()] == [team]
    removed = post(gw, "/team/member_delete", {"team_id": team, "user_id": user})
    assert removed.json()["members"] == []
    assert get(gw, "/team/list", user_id=user).json() == []
    assert post(gw, "/team/member_delete", {"team_id": team, "user_id": user}).status_code == 404


def test_unknown_member_fields_are_refused_by_name(gw):
    team = f"t-{uuid.uuid4().hex[:6]}"
    post(gw, "/team/new", {"team_id": team})
    for field in ("budget_duration_in_team", "role"):
        body = {"team_id": team, "member": {"user_id": "x"}, field: 1}
        refused = post(gw, "/team/member_add", body)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == field
    assert post(gw, "/team/member_add", {"team_id": "no-such", "member": {"user_id": "x"}}).status_code == 404


def test_a_blocked_team_blocks_its_keys(gw):
    team = f"t-{uuid.uuid4().hex[:6]}"
    post(gw, "/team/new", {"team_id": team})
    key = post(gw, "/key/generate", {"team_id": team}).json()["key"]
    chat = lambda: httpx.post(gw.url + "/v1/chat/completions", json={"model": "m", "messages": HELLO},  # noqa: E731
                              headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert chat().status_code == 200
    assert post(gw, "/team/block", {"team_id": team}).json()["blocked"] is True
    assert chat().status_code == 403
    assert post(gw, "/team/unblock", {"team_id": team}).json()["blocked"] is False
    assert chat().status_code == 200
    assert post(gw, "/team/block", {"team_id": team}, headers={"Authorization": f"Bearer {key}"}).status_code == 403


def test_user_list_pages(gw):
    role = f"r{uuid.uuid4().hex[:6]}"
    for i in range(3):
        post(gw, "/user/new", {"user_id": f"{role}-{i}", "user_role": role})
    first = get(gw, "/user/list", role=role, page_size=2).json()
    assert first["total"] == 3 and first["total_pages"] == 2 and len(first["users"]) == 2
    second = get(gw, "/user/list", role=role, page_size=2, page=2).json()
    assert {u["user_id"] for u in first["users"] + second["users"]} == {f"{role}-{i}" for i in range(3)}


def test_budget_objects_limit_the_customers_linked_to_them(gw):
    budget = f"b-{uuid.uuid4().hex[:6]}"
    created = post(gw, "/budget/new", {"budget_id": budget, "rpm_limit": 2, "budget_duration": "1d"})
    assert created.status_code == 200 and created.json()["rpm_limit"] == 2
    assert post(gw, "/budget/new", {"budget_id": budget}).status_code == 400  # already exists
    assert post(gw, "/budget/new", {"budget_id": "x", "max_budget_per_user": 1}).status_code == 400
    assert post(gw, "/customer/new", {"user_id": "c-none", "budget_id": "no-such"}).status_code == 404
    customers = [f"c-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    for customer in customers:
        assert post(gw, "/customer/new", {"user_id": customer, "budget_id": budget}).status_code == 200

    def chat(customer):
        return httpx.post(gw.url + "/v1/chat/completions", json={"model": "m", "messages": HELLO, "user": customer},
                          headers=ADMIN, timeout=10).status_code

    # Each linked customer gets the budget's limits: two calls a minute each, counted per customer.
    assert [chat(customers[0]) for _ in range(3)] == [200, 200, 429]
    assert chat(customers[1]) == 200
    assert post(gw, "/budget/update", {"budget_id": budget, "rpm_limit": 100}).json()["rpm_limit"] == 100
    assert chat(customers[0]) == 200  # the change applies at once on this instance
    assert post(gw, "/budget/info", {"budgets": [budget]}).json()[0]["rpm_limit"] == 100
    refused = post(gw, "/budget/delete", {"id": budget})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "budget_in_use"
    post(gw, "/customer/delete", {"user_ids": customers})
    assert post(gw, "/budget/delete", {"id": budget}).status_code == 200
    assert post(gw, "/budget/info", {"budgets": [budget]}).json() == []


def test_a_team_admin_manages_its_own_team_only(gw):
    mine, theirs = f"t-{uuid.uuid4().hex[:6]}", f"t-{uuid.uuid4().hex[:6]}"
    boss = f"u-{uuid.uuid4().hex[:6]}"
    post(gw, "/team/new", {"team_id": mine, "members_with_roles": [{"user_id": boss, "role": "admin"}]})
    post(gw, "/user/new", {"user_id": boss})
    post(gw, "/team/new", {"team_id": theirs})
    as_boss = {"Authorization": f"Bearer {post(gw, '/key/generate', {'user_id': boss}).json()['key']}"}

    assert post(gw, "/team/member_add", {"team_id": mine, "member": {"user_id": "new-1"}}, as_boss).status_code == 200
    issued = post(gw, "/key/generate", {"team_id": mine}, as_boss)
    assert issued.status_code == 200 and issued.json()["team_id"] == mine
    assert post(gw, "/team/member_delete", {"team_id": mine, "user_id": "new-1"}, as_boss).status_code == 200

    for path, body in (("/team/member_add", {"team_id": theirs, "member": {"user_id": "x"}}),
                       ("/team/member_delete", {"team_id": theirs, "user_id": "x"}),
                       ("/key/generate", {"team_id": theirs}), ("/key/generate", {}),
                       ("/team/new", {"team_id": "t-mine-too"}), ("/team/block", {"team_id": mine}),
                       ("/budget/new", {"budget_id": "b-boss"})):
        refused = post(gw, path, body, as_boss)
        assert refused.status_code == 403, (path, refused.text)
    # A plain member of the team is no admin of it.
    member_key = post(gw, "/key/generate", {"team_id": mine}).json()["key"]
    refused = post(gw, "/team/member_add", {"team_id": mine, "member": {"user_id": "y"}},
                   {"Authorization": f"Bearer {member_key}"})
    assert refused.status_code == 403


def test_a_key_for_a_user_not_seen_before_creates_the_user(gw):
    user = f"end-{uuid.uuid4().hex[:6]}"
    issued = post(gw, "/key/generate", {"user_id": user})  # LiteLLM issues keys for any user id
    assert issued.status_code == 200 and issued.json()["user_id"] == user
    again = post(gw, "/key/generate", {"user_id": user})  # the user now exists: a second key is just a key
    assert again.status_code == 200
    info = get(gw, "/user/info", user_id=user)
    assert info.status_code == 200 and info.json()["user_id"] == user and len(info.json()["keys"]) == 2
    key = issued.json()["key"]
    answer = httpx.post(gw.url + "/v1/chat/completions", json={"model": "m", "messages": HELLO},
                        headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert answer.status_code == 200
    unknown_team = post(gw, "/key/generate", {"user_id": user, "team_id": "no-such-team"})
    assert unknown_team.status_code == 404 and unknown_team.json()["error"]["param"] == "team_id"
