"""Models without restart (general_settings.store_model_in_db): /model/new,
/model/update, /model/delete through real gateway processes, on SQLite and
on PostgreSQL with two instances; credentials encrypted at rest, never
answered."""

from __future__ import annotations

import sqlite3
import time
import uuid

import httpx
import openai
import pytest

import services
from conftest import reset
from fakeserver import Reply
from gateway_process import GatewayProcess, run_cli

MASTER = "sk-master-model-store-1234"
ADMIN = {"Authorization": f"Bearer {MASTER}"}
SALT = "a-salt-key-for-the-model-store-tests"
UPSTREAM_KEY = "sk-upstream-stored-secret-9876"
HELLO = [{"role": "user", "content": "hi"}]
ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello there"},
                       "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}


def config(extra: str = "", store: bool = True) -> str:
    return f"""
model_list:
  - model_name: from-config
    litellm_params: {{model: mock/m}}
general_settings:
  master_key: {MASTER}
  store_model_in_db: {'true' if store else 'false'}
{extra}"""


def post(gw, path, body):
    return httpx.post(gw.url + path, json=body, headers=ADMIN, timeout=10)


def client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER, max_retries=0)


def wait_for(check, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def new_model(gw, upstream, name: str, **info):
    return post(gw, "/model/new", {"model_name": name, "model_info": info, "litellm_params": {
        "model": "openai/gpt-4o-mini", "api_base": upstream.url, "api_key": UPSTREAM_KEY}})


@pytest.fixture
def fake(upstream):
    reset(upstream).default = Reply(json=ANSWER)
    return upstream


@pytest.fixture(scope="module")
def gw():
    process = GatewayProcess(config(), env={"POLYRELAY_SALT_KEY": SALT}).start()
    yield process
    process.stop()


def test_a_model_added_updated_and_deleted_is_served_without_a_restart(gw, fake):
    name = f"stored-{uuid.uuid4().hex[:6]}"
    created = new_model(gw, fake, name)
    assert created.status_code == 200, created.text
    model_id = created.json()["model_id"]
    assert created.json()["model_info"]["id"] == model_id and created.json()["model_name"] == name

    answer = client(gw).chat.completions.create(model=name, messages=HELLO)
    assert answer.choices[0].message.content == "hello there"
    assert fake.requests[-1].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"  # decrypted for the call
    assert name in [m.id for m in client(gw).models.list()]

    changed = post(gw, "/model/update", {"model_info": {"id": model_id}, "model_name": name + "-v2"})
    assert changed.status_code == 200 and changed.json()["model_name"] == name + "-v2"
    assert client(gw).chat.completions.create(model=name + "-v2", messages=HELLO).choices[0].message.content
    with pytest.raises(openai.BadRequestError):
        client(gw).chat.completions.create(model=name, messages=HELLO)

    patched = httpx.patch(gw.url + f"/model/{model_id}/update", json={"litellm_params": {"rpm": 7}}, headers=ADMIN)
    assert patched.status_code == 200 and patched.json()["litellm_params"]["rpm"] == 7
    group = httpx.get(gw.url + "/model_group/info", params={"model_group": name + "-v2"}, headers=ADMIN).json()
    assert group["data"][0]["rpm"] == 7

    assert post(gw, "/model/delete", {"id": model_id}).json() == {"message": f"Model: {model_id} deleted successfully"}
    with pytest.raises(openai.BadRequestError):
        client(gw).chat.completions.create(model=name + "-v2", messages=HELLO)
    assert post(gw, "/model/delete", {"id": model_id}).status_code == 404


def test_credentials_are_encrypted_at_rest_and_never_answered(gw, fake):
    name = f"secret-{uuid.uuid4().hex[:6]}"
    created = new_model(gw, fake, name)
    model_id = created.json()["model_id"]
    answers = [created.text,
               post(gw, "/model/update", {"model_info": {"id": model_id}, "litellm_params": {"rpm": 100}}).text]
    for path in ("/model/info", "/v2/model/info", "/v1/model/info", "/model_group/info"):
        answers.append(httpx.get(gw.url + path, headers=ADMIN, timeout=10).text)
    assert all(UPSTREAM_KEY not in text for text in answers)
    assert created.json()["litellm_params"]["api_key"] != UPSTREAM_KEY
    # The database file holds the key only encrypted.
    with sqlite3.connect(gw._dir.name + "/polyrelay.db") as conn:
        (stored,) = conn.execute("SELECT litellm_params FROM proxy_models WHERE model_id = ?", (model_id,)).fetchone()
    assert UPSTREAM_KEY not in stored and "polyrelay-enc:v1:" in stored
    # An upstream error that echoes the key has it masked.
    fake.reply(Reply(401, json={"error": {"message": f"Incorrect API key provided: {UPSTREAM_KEY}"}}))
    error = httpx.post(gw.url + "/v1/chat/completions", json={"model": name, "messages": HELLO}, headers=ADMIN,
                       timeout=10)
    assert error.status_code == 401 and UPSTREAM_KEY not in error.text


def test_model_info_routes_describe_stored_and_config_models(gw, fake):
    name = f"info-{uuid.uuid4().hex[:6]}"
    model_id = new_model(gw, fake, name, max_input_tokens=1234).json()["model_id"]
    v2 = httpx.get(gw.url + "/v2/model/info", params={"model": name}, headers=ADMIN, timeout=10).json()["data"]
    assert [d["model_info"]["id"] for d in v2] == [model_id] and v2[0]["model_info"]["db_model"] is True
    groups = httpx.get(gw.url + "/model_group/info", headers=ADMIN, timeout=10).json()["data"]
    assert {"from-config", name} <= {g["model_group"] for g in groups}
    one = httpx.get(gw.url + "/model_group/info", params={"model_group": name}, headers=ADMIN, timeout=10).json()
    assert one["data"][0]["max_input_tokens"] == 1234 and one["data"][0]["providers"] == ["openai"]
    assert httpx.get(gw.url + "/model_group/info", params={"model_group": "nope"}, headers=ADMIN,
                     timeout=10).status_code == 404


def test_bad_model_requests_are_refused_by_name(gw, fake):
    config_id = httpx.get(gw.url + "/model/info", headers=ADMIN).json()["data"][0]["model_info"]["id"]
    cases = [
        ("/model/new", {"model_name": "x"}, "litellm_params"),
        ("/model/new", {"model_name": "x", "litellm_params": {"model": "mock/x"}, "extra": 1}, "extra"),
        ("/model/new", {"model_name": "x", "litellm_params": {"model": "mock/x"}, "model_info": {"id": config_id}},
         "model_info.id"),
        ("/model/update", {"model_info": {"id": config_id}, "model_name": "y"}, "model_info.id"),
        ("/model/delete", {"id": config_id}, "id"),
        ("/model/delete", {"model": "x"}, "id"),
    ]
    for path, body, param in cases:
        answer = post(gw, path, body)
        assert answer.status_code == 400 and answer.json()["error"]["param"] == param, (path, answer.text)
    assert post(gw, "/model/update", {"model_info": {"id": "no-such"}}).status_code == 404
    key = post(gw, "/key/generate", {}).json()["key"]
    refused = httpx.post(gw.url + "/model/new", json={"model_name": "x", "litellm_params": {"model": "mock/x"}},
                         headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert refused.status_code == 403


def test_without_store_model_in_db_the_routes_name_the_setting():
    process = GatewayProcess(config(store=False)).start()
    try:
        refused = post(process, "/model/new", {"model_name": "x", "litellm_params": {"model": "mock/x"}})
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "store_model_in_db"
        assert "store_model_in_db" in refused.json()["error"]["message"]
    finally:
        process.stop()


def test_store_model_in_db_without_a_salt_key_does_not_start(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(config())
    result = run_cli("--config", str(path))
    assert result.returncode != 0
    assert "POLYRELAY_SALT_KEY" in result.stderr and "store_model_in_db" in result.stderr


def test_two_gateways_on_postgres_see_each_others_models(postgres_admin_url, redis_url, upstream):
    reset(upstream).default = Reply(json=ANSWER)
    database = services.new_database(postgres_admin_url, f"gw_{uuid.uuid4().hex[:10]}")
    extra = f"  database_url: {database}\nrouter_settings:\n  redis_url: {redis_url}\n"
    east = GatewayProcess(config(extra), env={"POLYRELAY_SALT_KEY": SALT}).start()
    west = GatewayProcess(config(extra), env={"LITELLM_SALT_KEY": SALT}).start()
    try:
        name = f"shared-{uuid.uuid4().hex[:6]}"
        model_id = new_model(east, upstream, name).json()["model_id"]

        def served_on_west():
            answer = httpx.post(west.url + "/v1/chat/completions", json={"model": name, "messages": HELLO},
                                headers=ADMIN, timeout=10)
            return answer.status_code == 200 and answer

        assert wait_for(served_on_west), west.log
        assert upstream.requests[-1].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"

        assert post(west, "/model/delete", {"id": model_id}).status_code == 200
        gone = wait_for(lambda: httpx.post(east.url + "/v1/chat/completions", json={"model": name, "messages": HELLO},
                                           headers=ADMIN, timeout=10).status_code == 400)
        assert gone
        # A third instance started later serves what is stored, from the start.
        later = new_model(west, upstream, name + "-later").json()["model_id"]
        third = GatewayProcess(config(extra), env={"POLYRELAY_SALT_KEY": SALT}).start()
        try:
            assert later in [d["model_info"]["id"] for d in httpx.get(third.url + "/v2/model/info",
                                                                      headers=ADMIN).json()["data"]]
        finally:
            third.stop()
        # One started with another salt key cannot read the credentials: it serves without those models.
        wrong = GatewayProcess(config(extra), env={"POLYRELAY_SALT_KEY": "not-the-salt-key"}).start()
        try:
            ids = [d["model_info"]["id"] for d in httpx.get(wrong.url + "/v2/model/info", headers=ADMIN).json()["data"]]
            assert later not in ids and len(ids) == 1  # the config's model only
            assert f"stored model {later} cannot be decrypted" in wrong.log
        finally:
            wrong.stop()
    finally:
        east.stop()
        west.stop()
