"""Organizations over teams and per-member budgets inside a team, through a
real gateway process on SQLite and on PostgreSQL: budgets that cap spend,
and who may manage what."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

import services
from gateway_process import GatewayProcess

MASTER = "sk-master-for-orgs-1234"
ADMIN = {"Authorization": f"Bearer {MASTER}"}
HELLO = [{"role": "user", "content": "hi"}]
CONFIG = """
model_list:
  - model_name: cheap
    litellm_params: {model: mock/cheap}
    model_info: {input_cost_per_token: 0.001, output_cost_per_token: 0.001}
  - model_name: other
    litellm_params: {model: mock/other}
general_settings:
  master_key: %s
"""


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def gw(request):
    config = CONFIG % MASTER
    if request.param == "postgresql":
        admin_url = request.getfixturevalue("postgres_admin_url")
        config += f"  database_url: {services.new_database(admin_url, f'gw_{uuid.uuid4().hex[:10]}')}\n"
    process = GatewayProcess(config).start()
    yield process
    process.stop()


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def call(gw, path, body=None, method="POST", headers=ADMIN, **params):
    return httpx.request(method, gw.url + path, json=body, params=params, headers=headers, timeout=10)


def ok(response):
    assert response.status_code == 200, response.text
    return response.json()


def chat(gw, key, model="cheap"):
    return httpx.post(gw.url + "/v1/chat/completions", json={"model": model, "messages": HELLO, "max_tokens": 5},
                      headers={"Authorization": f"Bearer {key}"}, timeout=20)


def one_call_cost(gw) -> float:
    return float(chat(gw, MASTER).headers["x-polyrelay-response-cost"])


def test_organizations_are_created_read_changed_listed_and_deleted(gw):
    org = uid("org")
    created = ok(call(gw, "/organization/new", {"organization_id": org, "organization_alias": "Acme",
                                                "models": ["cheap"], "max_budget": 10, "budget_duration": "30d"}))
    assert created["organization_alias"] == "Acme" and created["models"] == ["cheap"]
    assert call(gw, "/organization/new", {"organization_id": org, "organization_alias": "x"}).status_code == 400
    for body, param in (({"organization_alias": "x", "soft_budget": 1}, "soft_budget"),
                        ({"max_budget": 1}, "organization_alias"),
                        ({"organization_alias": "x", "max_budget": -1}, "max_budget")):
        refused = call(gw, "/organization/new", body)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == param, refused.text

    team = uid("team")
    ok(call(gw, "/team/new", {"team_id": team, "organization_id": org, "models": ["cheap"]}))
    outside = call(gw, "/team/new", {"team_id": uid("t"), "organization_id": org, "models": ["other"]})
    assert outside.status_code == 400 and outside.json()["error"]["param"] == "models"
    assert call(gw, "/team/new", {"team_id": uid("t"), "organization_id": "no-such"}).status_code == 404

    info = ok(call(gw, "/organization/info", method="GET", organization_id=org))
    assert [t["team_id"] for t in info["teams"]] == [team] and info["spend"] == 0
    assert info["budget_reset_at"] is not None  # the end of the current 30-day window
    assert [o["organization_id"] for o in ok(call(gw, "/organization/info", {"organizations": [org]}))] == [org]
    changed = ok(call(gw, "/organization/update", {"organization_id": org, "max_budget": 20}, method="PATCH"))
    assert changed["max_budget"] == 20 and changed["organization_alias"] == "Acme"
    assert org in [o["organization_id"] for o in ok(call(gw, "/organization/list", method="GET"))]

    in_use = call(gw, "/organization/delete", {"organization_ids": [org]}, method="DELETE")
    assert in_use.status_code == 400 and in_use.json()["error"]["code"] == "organization_in_use"
    ok(call(gw, "/team/delete", {"team_ids": [team]}))
    ok(call(gw, "/organization/delete", {"organization_ids": [org]}, method="DELETE"))
    assert call(gw, "/organization/info", method="GET", organization_id=org).status_code == 404


def test_an_organization_budget_caps_the_spend_of_all_its_teams(gw):
    one = one_call_cost(gw)
    org = uid("org")
    ok(call(gw, "/organization/new", {"organization_id": org, "organization_alias": "capped",
                                      "max_budget": one * 3.5}))
    keys = []
    for _ in range(2):  # two teams with no budget of their own
        team = uid("team")
        ok(call(gw, "/team/new", {"team_id": team, "organization_id": org}))
        keys.append(ok(call(gw, "/key/generate", {"team_id": team}))["key"])
    answers = [chat(gw, keys[i % 2]) for i in range(6)]
    assert [a.status_code for a in answers[:4]] == [200] * 4, [a.text for a in answers]
    assert {a.status_code for a in answers[4:]} == {400}
    assert "organization" in answers[4].json()["error"]["message"]
    assert answers[4].json()["error"]["code"] == "budget_exceeded"

    # Spend lands in the logs off the request path; the organization's is its teams'.
    deadline = time.monotonic() + 20
    while ok(call(gw, "/organization/info", method="GET", organization_id=org))["spend"] < one * 3.99:
        assert time.monotonic() < deadline, "spend never reached the organization"
        time.sleep(0.1)
    # Raising the budget lets the teams call again.
    ok(call(gw, "/organization/update", {"organization_id": org, "max_budget": one * 100}))
    assert chat(gw, keys[0]).status_code == 200


def test_an_organization_limits_its_teams_models(gw):
    org, team = uid("org"), uid("team")
    ok(call(gw, "/organization/new", {"organization_id": org, "organization_alias": "narrow", "models": ["cheap"]}))
    ok(call(gw, "/team/new", {"team_id": team, "organization_id": org}))  # no models of its own: the org's apply
    key = ok(call(gw, "/key/generate", {"team_id": team}))["key"]
    assert chat(gw, key).status_code == 200
    assert chat(gw, key, model="other").status_code in (400, 401, 403)
    ok(call(gw, "/organization/update", {"organization_id": org, "blocked": True}))
    assert chat(gw, key).status_code == 403


def test_a_members_budget_inside_the_team_is_capped(gw):
    one = one_call_cost(gw)
    team, capped, free = uid("team"), uid("u"), uid("u")
    ok(call(gw, "/team/new", {"team_id": team}))
    added = ok(call(gw, "/team/member_add", {"team_id": team, "member": [{"user_id": capped, "role": "user"}],
                                            "max_budget_in_team": one * 1.5}))
    assert added["member_budgets"] == {capped: one * 1.5}
    ok(call(gw, "/team/member_add", {"team_id": team, "member": {"user_id": free}}))
    capped_key = ok(call(gw, "/key/generate", {"team_id": team, "user_id": capped}))["key"]
    free_key = ok(call(gw, "/key/generate", {"team_id": team, "user_id": free}))["key"]

    answers = [chat(gw, capped_key) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 400], [a.text for a in answers]
    assert "max_budget_in_team" in answers[2].json()["error"]["message"]
    assert [chat(gw, free_key).status_code for _ in range(3)] == [200, 200, 200]  # the team has no cap

    raised = ok(call(gw, "/team/member_update", {"team_id": team, "user_id": capped, "max_budget_in_team": one * 50}))
    assert raised["member_budgets"][capped] == one * 50
    assert chat(gw, capped_key).status_code == 200
    removed = ok(call(gw, "/team/member_update", {"team_id": team, "user_id": capped, "max_budget_in_team": None}))
    assert removed["member_budgets"] == {}
    for body, param in (({"team_id": team, "member": {"user_id": "x"}, "max_budget_in_team": -1},
                         "max_budget_in_team"),
                        ({"team_id": team, "member": {"user_id": "x"}, "role": "admin"}, "role")):
        refused = call(gw, "/team/member_add", body)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == param
    ok(call(gw, "/team/member_delete", {"team_id": team, "user_id": free}))
    assert call(gw, "/team/member_update", {"team_id": team, "user_id": free, "max_budget_in_team": 1}
                ).status_code == 404


def test_an_organization_admin_manages_its_own_organization_only(gw):
    mine, theirs, boss = uid("org"), uid("org"), uid("boss")
    for org in (mine, theirs):
        ok(call(gw, "/organization/new", {"organization_id": org, "organization_alias": org}))
    ok(call(gw, "/organization/member_add", {"organization_id": mine, "member": {"user_id": boss,
                                                                               "role": "org_admin"}}))
    theirs_team = uid("team")
    ok(call(gw, "/team/new", {"team_id": theirs_team, "organization_id": theirs}))
    as_boss = {"Authorization": f"Bearer {ok(call(gw, '/key/generate', {'user_id': boss}))['key']}"}

    def status(path, body=None, method="POST", **params):
        return call(gw, path, body, method=method, headers=as_boss, **params).status_code

    # Allowed: its own organization, and teams, members and keys inside it.
    assert status("/organization/info", method="GET", organization_id=mine) == 200
    my_team = uid("team")
    assert status("/team/new", {"team_id": my_team, "organization_id": mine}) == 200
    assert status("/team/update", {"team_id": my_team, "max_budget": 5}) == 200
    assert status("/team/member_add", {"team_id": my_team, "member": {"user_id": uid("u")}}) == 200
    assert status("/key/generate", {"team_id": my_team}) == 200
    assert status("/organization/member_add", {"organization_id": mine, "member": {"user_id": uid("u")}}) == 200
    # Refused: the other organization, its teams, moving a team out, and the organizations themselves.
    assert status("/organization/info", method="GET", organization_id=theirs) == 403
    assert status("/team/new", {"team_id": uid("t"), "organization_id": theirs}) == 403
    assert status("/team/new", {"team_id": uid("t")}) == 403
    assert status("/team/update", {"team_id": theirs_team, "max_budget": 5}) == 403
    assert status("/team/update", {"team_id": my_team, "organization_id": theirs}) == 403
    assert status("/team/update", {"team_id": my_team, "organization_id": None}) == 403  # out from under the budget
    assert status("/team/member_add", {"team_id": theirs_team, "member": {"user_id": uid("u")}}) == 403
    assert status("/key/generate", {"team_id": theirs_team}) == 403
    assert status("/organization/member_add", {"organization_id": theirs, "member": {"user_id": boss}}) == 403
    assert status("/organization/update", {"organization_id": mine, "max_budget": 1}) == 403
    assert status("/organization/new", {"organization_alias": "mine too"}) == 403
    assert status("/organization/delete", {"organization_ids": [mine]}) == 403
    assert status("/organization/list", method="GET") == 403
