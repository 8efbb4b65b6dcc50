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
