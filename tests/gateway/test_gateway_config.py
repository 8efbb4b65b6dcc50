"""Config loading and checking, in-process (config.build / config.load and
the CLI's start-up checks): os.environ/ resolution, environment_variables,
invalid values naming their key, unknown keys as warnings."""

from __future__ import annotations

import os

import pytest

import polyrelay
from polyrelay.gateway import cli
from polyrelay.gateway.config import DEFAULT_CONFIG, ConfigError, build, load
from polyrelay.gateway.runtime import Gateway


def test_environment_references_resolved_everywhere(monkeypatch):
    monkeypatch.setenv("PR_TEST_KEY", "sk-from-env-123")
    monkeypatch.setenv("PR_TEST_RPM", "60")
    config = build({
        "model_list": [{"model_name": "a", "litellm_params": {"model": "mock/a", "api_key": "os.environ/PR_TEST_KEY",
                                                              "rpm": "os.environ/PR_TEST_RPM"}}],
        "general_settings": {"master_key": "os.environ/PR_TEST_KEY"},
    })
    params = config.model_list[0]["litellm_params"]
    assert params["api_key"] == "sk-from-env-123" and params["rpm"] == 60  # converted to its type
    assert config.master_key == "sk-from-env-123"
    assert "sk-from-env-123" in config.secrets()


def test_missing_variables_are_all_named_with_where_they_are_used(monkeypatch):
    monkeypatch.delenv("PR_MISSING_A", raising=False)
    monkeypatch.delenv("PR_MISSING_B", raising=False)
    with pytest.raises(ConfigError) as caught:
        build({"model_list": [{"model_name": "a", "litellm_params": {"model": "mock/a",
                                                                     "api_key": "os.environ/PR_MISSING_A"}}],
               "router_settings": {"redis_password": "os.environ/PR_MISSING_B"}})
    message = str(caught.value)
    assert "PR_MISSING_A (used by model_list[0].litellm_params.api_key)" in message
    assert "PR_MISSING_B (used by router_settings.redis_password)" in message


def test_environment_variables_section_is_exported_first(monkeypatch):
    monkeypatch.delenv("PR_EXPORTED", raising=False)
    monkeypatch.setenv("PR_EXPORTED", "placeholder")  # so monkeypatch removes it afterwards
    monkeypatch.delenv("PR_EXPORTED")
    config = build({"environment_variables": {"PR_EXPORTED": "yes-1234"},
                    "general_settings": {"master_key": "os.environ/PR_EXPORTED"}})
    assert config.master_key == "yes-1234"
    assert os.environ["PR_EXPORTED"] == "yes-1234"


@pytest.mark.parametrize("raw,needle", [
    ({"general_settings": {"max_request_size_mb": "lots"}}, "general_settings.max_request_size_mb"),
    ({"general_settings": {"max_request_size_mb": 0}}, "general_settings.max_request_size_mb"),
    ({"general_settings": {"allow_client_side_credentials": "maybe"}}, "general_settings.allow_client_side_credentials"),
    ({"general_settings": {"master_key": 1234}}, "general_settings.master_key"),
    ({"router_settings": {"routing_strategy": "fastest-please"}}, "router_settings.routing_strategy"),
    ({"router_settings": {"num_retries": -1}}, "router_settings.num_retries"),
    ({"router_settings": {"fallbacks": {"a": "b"}}}, "router_settings.fallbacks"),
    ({"litellm_settings": {"drop_params": "sometimes"}}, "litellm_settings.drop_params"),
    ({"model_list": {"a": 1}}, "model_list"),
    ({"model_list": [{"litellm_params": {"model": "mock/x"}}]}, "model_list[0].model_name"),
    ({"model_list": [{"model_name": "x"}]}, "model_list[0].litellm_params"),
    ({"model_list": [{"model_name": "x", "litellm_params": {"api_key": "k"}}]}, "model_list[0].litellm_params.model"),
    ({"model_list": [{"model_name": "x", "litellm_params": {"model": "mock/x", "rpm": "many"}}]},
     "model_list[0].litellm_params.rpm"),
    ({"model_list": [{"model_name": "x", "litellm_params": {"model": "mock/x", "timeout": -5}}]},
     "model_list[0].litellm_params.timeout"),
    ([1, 2], "top level"),
])
def test_invalid_values_name_the_key(raw, needle):
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        build(raw)


def test_unknown_keys_are_warnings_naming_them():
    config = build({"model_list": [], "litellm_settings": {"my_setting": 10, "drop_params": True},
                    "general_settings": {"alerting": ["slack"]}, "my_section": ["other.yaml"]})
    joined = "\n".join(config.warnings)
    for key in ("litellm_settings.my_setting", "general_settings.alerting", "my_section"):
        assert key in joined
    assert "drop_params" not in joined


def test_recognised_but_inactive_settings_are_said_at_start():
    config = build({"litellm_settings": {"success_callback": ["langfuse"]}})
    joined = "\n".join(config.warnings)
    assert "success_callback" not in joined  # active (observe/): loaded at start-up, see tests/observe
    assert config.litellm_settings["success_callback"] == ["langfuse"]


def test_cache_settings_are_active_and_checked():
    config = build({"litellm_settings": {"cache": True, "cache_params": {"type": "local", "ttl": 30,
                                                                         "similarity_threshold": 0.8}}})
    about_cache = [w for w in config.warnings if "cache" in w]
    assert about_cache == ["litellm_settings.cache_params.similarity_threshold does not apply to a 'local' cache; "
                           "ignored"]
    assert config.litellm_settings["cache_params"] == {"type": "local", "ttl": 30}
    off = build({"litellm_settings": {"cache_params": {"type": "local"}}})
    assert "litellm_settings.cache is not true" in "\n".join(off.warnings)
    with pytest.raises(ConfigError, match="cache_params.*redis-semantic"):
        build({"litellm_settings": {"cache": True, "cache_params": {"type": "redis-semantic"}}})


def test_litellm_router_settings_reach_the_router_and_module_settings_the_sdk(monkeypatch):
    config = build({"model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}],
                    "litellm_settings": {"num_retries": 1, "drop_params": True,
                                         "fallbacks": [{"m": ["n"]}]},
                    "router_settings": {"num_retries": 3}})
    kwargs = config.router_kwargs()
    assert kwargs["num_retries"] == 3  # router_settings win over litellm_settings
    assert kwargs["fallbacks"] == [{"m": ["n"]}]
    # The module settings are process-wide: restore them after this test.
    monkeypatch.setattr(polyrelay, "drop_params", False)
    monkeypatch.setattr(polyrelay, "num_retries", None)
    Gateway(config).apply_module_settings()
    assert polyrelay.drop_params is True and polyrelay.num_retries == 1


def test_default_and_quick_start():
    default = load()
    assert [d["model_name"] for d in default.model_list] == [d["model_name"] for d in DEFAULT_CONFIG["model_list"]]
    assert all(d["litellm_params"]["model"].startswith("mock/") for d in default.model_list)
    assert default.master_key is None
    quick = load(model="openai/gpt-4o")
    assert quick.model_list == [{"model_name": "openai/gpt-4o", "litellm_params": {"model": "openai/gpt-4o"},
                                 "model_info": {}}]


def test_cli_start_up_errors_exit_2_naming_the_key(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text("general_settings:\n  max_request_size_mb: lots\n")
    assert cli.main(["--config", str(path), "--port", "1"]) == 2
    assert "general_settings.max_request_size_mb" in capsys.readouterr().err
    path.write_text("router_settings:\n  routing_strategy: fastest-please\n")
    assert cli.main(["--config", str(path)]) == 2
    assert "router_settings.routing_strategy" in capsys.readouterr().err
    assert cli.main(["--num_workers", "0"]) == 2
    assert "--num_workers" in capsys.readouterr().err
