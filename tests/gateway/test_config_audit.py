"""Every LiteLLM setting polyrelay does not act on is refused at start-up
when it would change calls, or warned about by name when it would not
(gateway/config_audit.py)."""

from __future__ import annotations

import pytest

from polyrelay.gateway.config import ConfigError, build
from polyrelay.gateway.config_audit import REFUSED

from gateway_process import run_cli

MODEL = [{"model_name": "a", "litellm_params": {"model": "mock/a"}}]


@pytest.mark.parametrize("section,key", [(s, k) for s, keys in REFUSED.items() if s != "litellm_params"
                                         for k in keys])
def test_settings_that_change_calls_are_refused_by_name(section, key):
    with pytest.raises(ConfigError) as caught:
        build({"model_list": MODEL, section: {key: True}})
    assert f"{section}.{key}" in str(caught.value)


@pytest.mark.parametrize("key", sorted(REFUSED["litellm_params"]))
def test_deployment_settings_that_change_calls_are_refused_by_name(key):
    with pytest.raises(ConfigError) as caught:
        build({"model_list": [{"model_name": "a", "litellm_params": {"model": "mock/a", key: 1}}]})
    assert f"model_list[0].litellm_params.{key}" in str(caught.value)


def test_a_refused_setting_left_off_starts():
    config = build({"model_list": MODEL, "general_settings": {"enable_jwt_auth": False, "disable_spend_logs": "false"},
                    "litellm_settings": {"max_budget": None}})
    assert config.general_settings == {}


def test_settings_without_effect_on_calls_are_warned_about_by_name():
    config = build({"model_list": MODEL, "general_settings": {"alerting": ["slack"], "ui_access_mode": "all"},
                    "litellm_settings": {"telemetry": False}, "router_settings": {"client_ttl": 60}})
    joined = "\n".join(config.warnings)
    for name in ("general_settings.alerting", "general_settings.ui_access_mode", "litellm_settings.telemetry",
                 "router_settings.client_ttl"):
        assert f"{name} has no effect on calls" in joined


def test_unknown_settings_are_still_warnings():
    config = build({"model_list": MODEL, "general_settings": {"my_own_thing": 1}})
    assert any("general_settings.my_own_thing is not a setting polyrelay knows" in w for w in config.warnings)


def test_the_cli_stops_naming_the_setting(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("model_list: [{model_name: a, litellm_params: {model: mock/a}}]\n"
                    "litellm_settings: {modify_params: true}\n")
    result = run_cli("--config", str(path), "--port", "1")
    assert result.returncode != 0
    assert "litellm_settings.modify_params" in result.stdout + result.stderr
