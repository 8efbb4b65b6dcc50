"""The model form (shown with store_model_in_db): what it sends to
/model/new and /model/update, and what the page offers for stored and
config models."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from polyrelay.ui.actions import ActionError
from polyrelay.ui.pages import model_body
from polyrelay.ui.web import make_environment


def test_a_new_model_in_litellms_shape():
    form = FormData([("model_name", " gpt-4o "), ("model", "openai/gpt-4o"), ("api_base", ""),
                     ("api_key", "sk-upstream"), ("rpm", "60"), ("tpm", "")])
    assert model_body(form) == {"model_name": "gpt-4o", "model_info": {},
                                "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-upstream", "rpm": 60}}


def test_an_update_sends_only_what_was_filled_in():
    form = FormData([("api_base", "http://127.0.0.1:9/v1"), ("api_key", ""), ("rpm", ""), ("tpm", "1000")])
    assert model_body(form, partial=True) == {"litellm_params": {"api_base": "http://127.0.0.1:9/v1", "tpm": 1000}}


def test_a_bad_number_is_named():
    with pytest.raises(ActionError, match="rpm must be a whole number"):
        model_body(FormData([("model_name", "m"), ("model", "mock/m"), ("rpm", "many")]))


def test_the_page_offers_add_and_edit_for_stored_models_only():
    rows = [{"group": "stored-one", "model": "openai/x", "id": "db-1", "stored": True, "api_base": None, "rpm": 5,
             "tpm": None, "order": None, "weight": None, "state": "healthy", "stats": None},
            {"group": "from-config", "model": "mock/y", "id": "cfg-1", "stored": False, "api_base": None, "rpm": None,
             "tpm": None, "order": None, "weight": None, "state": "no calls yet", "stats": None}]
    html = make_environment().get_template("models.html").render(rows=rows, editable=True, form={}, csrf="tok",
                                                                 user="admin", path="/ui/models")
    assert 'action="/ui/models/create"' in html and 'name="api_key" type="password"' in html
    assert html.count('value="update"') == 1 and 'name="id" value="db-1"' in html
    assert 'name="id" value="cfg-1"' not in html and "config file" in html
    read_only = make_environment().get_template("models.html").render(rows=rows, editable=False, form={}, csrf="t",
                                                                      user="admin", path="/ui/models")
    assert 'action="/ui/models' not in read_only and "store_model_in_db: true" in read_only


def test_models_added_updated_and_deleted_in_the_ui_serve_calls():
    """Against the real /model/* routes: a model added in the form answers calls (and is listed as
    stored, its key never shown), an update reaches the router, a delete takes it away."""
    import re
    import time

    import openai

    from gateway.gateway_process import GatewayProcess
    from uihelp import CONFIG, MASTER, csrf, sign_in

    config = CONFIG % {"extra": "", "litellm": "", "general": "  store_model_in_db: true"}
    gw = GatewayProcess(config, env={"POLYRELAY_SALT_KEY": "sk-salt-for-ui-tests-0123456789"}).start()
    try:
        client = sign_in(gw)
        sdk = openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER, max_retries=0)
        added = client.post("/ui/models/create", data={
            "csrf_token": csrf(client, "/ui/models"), "model_name": "from-the-ui", "model": "mock/from-the-ui",
            "api_key": "sk-upstream-secret-4321", "rpm": "60"})
        assert added.status_code == 303, added.text

        asked = iter(range(1000))

        def answers() -> bool:  # a new prompt each time: the config's response cache answers repeats
            try:
                return bool(sdk.chat.completions.create(
                    model="from-the-ui", messages=[{"role": "user", "content": f"hi {next(asked)}"}]).choices)
            except openai.APIStatusError:
                return False

        deadline = time.monotonic() + 15
        while not answers() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert answers()
        page = client.get("/ui/models").text
        assert "from-the-ui" in page and "sk-upstream-secret-4321" not in page
        model_id = re.search(r'name="id" value="([^"]+)"', page).group(1)

        updated = client.post("/ui/models/action", data={"csrf_token": csrf(client, "/ui/models"), "id": model_id,
                                                         "action": "update", "rpm": "5"})
        assert updated.status_code == 303, updated.text
        deleted = client.post("/ui/models/action", data={"csrf_token": csrf(client, "/ui/models"), "id": model_id,
                                                         "action": "delete"})
        assert deleted.status_code == 303, deleted.text
        deadline = time.monotonic() + 15
        while answers() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert not answers()
    finally:
        gw.stop()
