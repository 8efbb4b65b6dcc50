"""Refreshing prices: ``polyrelay catalog update`` and POLYRELAY_MODEL_COST_MAP_URL."""

import json
import logging

import pytest

import polyrelay
from fakeserver import Reply
from polyrelay.catalog import CATALOG, ENV_VAR, URL_ENV_VAR
from polyrelay.gateway.cli import main

FRESH_MAP = {
    "sample_spec": {"input_cost_per_token": 0},
    "gpt-4o": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 2.2e-6,
               "cache_read_input_token_cost": 9e-6},  # a cache read dearer than input: refused
    "xai/grok-new": {"litellm_provider": "xai", "mode": "chat", "max_input_tokens": 256000,
                     "input_cost_per_token": 1e-6, "output_cost_per_token": 4e-6, "supports_reasoning": True},
}


@pytest.fixture(autouse=True)
def fresh_catalog(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delenv(URL_ENV_VAR, raising=False)
    CATALOG.reload()
    yield
    monkeypatch.delenv(URL_ENV_VAR, raising=False)
    CATALOG.reload()


def test_update_command_merges_a_file_into_catalogue_files(tmp_path, capsys):
    files = tmp_path / "catalog"
    files.mkdir()
    (files / "openai.json").write_text(json.dumps({
        "_source": "https://openai.com/api/pricing/", "_as_of": "2026-01-01",
        "openai/gpt-4o": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 2.5e-6,
                          "cache_read_input_token_cost": 1.25e-6}}))
    source = tmp_path / "map.json"
    source.write_text(json.dumps(FRESH_MAP))
    assert main(["catalog", "update", "--from", str(source), "--to", str(files), "--label", "test map"]) == 0
    openai = json.loads((files / "openai.json").read_text())
    assert openai["openai/gpt-4o"]["input_cost_per_token"] == 2.2e-6
    assert openai["openai/gpt-4o"]["cache_read_input_token_cost"] == 1.25e-6  # ours kept: theirs is inconsistent
    assert openai["_source"] == "https://openai.com/api/pricing/" and "test map" in openai["_imported"]
    xai = json.loads((files / "xai.json").read_text())
    assert xai["xai/grok-new"]["supports_reasoning"] is True and xai["_as_of"]
    out = capsys.readouterr()
    assert "changed openai/gpt-4o: input_cost_per_token 2.5e-06 -> 2.2e-06" in out.out
    assert "added xai/grok-new" in out.out and "1 added" in out.err


def test_update_command_reports_a_missing_source(tmp_path, capsys):
    assert main(["catalog", "update", "--from", str(tmp_path / "nothing.json"), "--to", str(tmp_path)]) == 1
    assert "nothing.json" in capsys.readouterr().err


def test_cost_map_url_is_loaded_at_start(fake, monkeypatch):
    fake.reply(Reply(json=FRESH_MAP))
    monkeypatch.setenv(URL_ENV_VAR, fake.url + "/model_prices_and_context_window.json")
    CATALOG.reload()
    assert polyrelay.get_model_info("gpt-4o")["input_cost_per_token"] == 2.2e-6
    assert polyrelay.get_model_info("gpt-4o")["cache_read_input_token_cost"] == 1.25e-6  # the refused field
    assert polyrelay.model_cost["gpt-4o"]["input_cost_per_token"] == 2.2e-6
    assert polyrelay.get_model_info("xai/grok-new")["max_input_tokens"] == 256000
    assert len(fake.requests) == 1 and fake.requests[0].path == "/model_prices_and_context_window.json"


def test_cost_map_url_that_fails_keeps_the_shipped_prices(fake, monkeypatch, caplog):
    fake.reply(Reply(status=503, body=b"down"))
    monkeypatch.setenv(URL_ENV_VAR, fake.url + "/prices.json")
    with caplog.at_level(logging.WARNING, logger="polyrelay"):
        CATALOG.reload()
        assert polyrelay.get_model_info("gpt-4o")["input_cost_per_token"] == 2.5e-6
    assert any(URL_ENV_VAR in r.getMessage() for r in caplog.records)
