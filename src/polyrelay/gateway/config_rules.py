"""What each setting of the gateway's ``config.yaml`` accepts: one table per
section (``general_settings``, ``router_settings``, ``litellm_settings``,
a deployment's ``litellm_params``), each mapping a key to the function that
checks and converts its value, raising ``ConfigError`` naming the key.

``config.py`` reads the file and applies these tables; ``config_audit.py``
lists the LiteLLM settings polyrelay knows and does not act on.
"""

from __future__ import annotations

import math
from typing import Any, Callable


class ConfigError(Exception):
    """The configuration cannot be served; the message names the key."""


# --- value checkers: each returns the converted value or raises ConfigError ---

def type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _str(path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{path} must be a string, got {type_name(value)} {value!r}")
    return value


def _bool(path: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    # os.environ/ values arrive as strings.
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise ConfigError(f"{path} must be true or false, got {value!r}")


def number(minimum: float = 0.0, strict: bool = False) -> Callable[[str, Any], float]:
    def check(path: str, value: Any) -> float:
        if isinstance(value, bool):
            raise ConfigError(f"{path} must be a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{path} must be a number, got {value!r}") from None
        if not math.isfinite(number) or number < minimum or (strict and number == minimum):
            bound = f"greater than {minimum:g}" if strict else f"at least {minimum:g}"
            raise ConfigError(f"{path} must be {bound}, got {value!r}")
        return int(number) if isinstance(value, int) else number
    return check


def _int(minimum: int = 0) -> Callable[[str, Any], int]:
    def check(path: str, value: Any) -> int:
        if isinstance(value, bool):
            raise ConfigError(f"{path} must be a whole number, got {value!r}")
        try:
            number = int(value) if not isinstance(value, float) or value.is_integer() else None
        except (TypeError, ValueError):
            number = None
        if number is None:
            raise ConfigError(f"{path} must be a whole number, got {value!r}")
        if number < minimum:
            raise ConfigError(f"{path} must be at least {minimum}, got {value!r}")
        return number
    return check


def checked_list(path: str, value: Any) -> list:
    if not isinstance(value, list):
        raise ConfigError(f"{path} must be a list, got {type_name(value)}")
    return value


def checked_dict(path: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{path} must be a mapping, got {type_name(value)}")
    return value


def _str_or_list(path: str, value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [_str(f"{path}[{i}]", v) for i, v in enumerate(checked_list(path, value))]


def _one_of(*choices: str) -> Callable[[str, Any], str]:
    def check(path: str, value: Any) -> str:
        if value not in choices:
            raise ConfigError(f"{path} must be one of {', '.join(choices)}; got {value!r}")
        return value
    return check


def _fallbacks(path: str, value: Any) -> list:
    for i, entry in enumerate(checked_list(path, value)):
        for group, targets in checked_dict(f"{path}[{i}]", entry).items():
            _str_or_list(f"{path}[{i}].{group}", targets)
    return value


def _ui_users(path: str, value: Any) -> list:
    """``ui_users: [{username, password_hash}]``: who may sign in to the admin UI (/ui)."""
    from ..ui.auth import check_hash_format

    seen: set[str] = set()
    for i, entry in enumerate(checked_list(path, value)):
        entry = checked_dict(f"{path}[{i}]", entry)
        unknown = set(entry) - {"username", "password_hash"}
        if unknown:
            raise ConfigError(f"{path}[{i}].{sorted(unknown)[0]} is not a field of a UI user (username, password_hash)")
        name = _str(f"{path}[{i}].username", entry.get("username"))
        if not name.strip() or name in seen:
            raise ConfigError(f"{path}[{i}].username must be a non-empty name used once, got {name!r}")
        seen.add(name)
        problem = check_hash_format(entry.get("password_hash"))
        if problem:
            raise ConfigError(f"{path}[{i}].password_hash {problem}")
    return value


def _routing_strategy(path: str, value: Any) -> str:
    from ..router.strategies import STRATEGIES  # what the Router implements, not a copy of the list

    return _one_of(*STRATEGIES)(path, value)


def _aliases(path: str, value: Any) -> dict:
    """``model_group_alias``: each alias a group name or ``{model, hidden}``."""
    from ..errors import PolyrelayError
    from ..router.table import parse_aliases

    try:
        parse_aliases(checked_dict(path, value))
    except PolyrelayError as exc:
        raise ConfigError(f"{path}: {exc.message}") from None
    return value


def _policy(kind: str) -> Callable[[str, Any], dict]:
    """``retry_policy`` / ``allowed_fails_policy``: known error-class fields, whole numbers >= 0."""
    def check(path: str, value: Any) -> dict:
        from ..router import policies

        fields = getattr(policies, kind).model_fields
        for key, count in checked_dict(path, value).items():
            if key not in fields:
                raise ConfigError(f"{path}.{key} is not a field of {kind}; known: {', '.join(fields)}")
            if count is not None:
                _int(0)(f"{path}.{key}", count)
        return value
    return check


def _group_policies(path: str, value: Any) -> dict:
    for group, policy in checked_dict(path, value).items():
        _policy("RetryPolicy")(f"{path}.{group}", policy)
    return value


# Known keys per section, each with its checker. Keys outside these tables
# are warned about and otherwise ignored.
GENERAL_SETTINGS: dict[str, Callable[[str, Any], Any]] = {
    "master_key": _str,
    "database_url": _str,
    "max_request_size_mb": number(0, strict=True),
    "max_response_size_mb": number(0, strict=True),  # an upstream body read whole (transport.py)
    "max_stream_event_size_mb": number(0, strict=True),  # one upstream stream line or event
    "header_timeout_seconds": number(0, strict=True),  # client connections (connections.py)
    "max_connections": _int(1),
    "allow_client_side_credentials": _bool,
    "allow_client_side_metadata_hosts": _bool,
    "user_config_providers": _str_or_list,
    "max_batch_models": _int(1),
    "health_check_interval": number(0),
    "spend_spool_dir": _str,
    "store_model_in_db": _bool,  # /model/new|update|delete (gateway/model_store.py)
    # The admin UI's sign-in (ui/auth.py): users with password hashes, or LiteLLM's single pair.
    "ui_users": _ui_users,
    "ui_username": _str,
    "ui_password": _str,
    "store_prompts_in_spend_logs": _bool,  # messages and answers on spend records (shown in the UI)
}
ROUTER_SETTINGS: dict[str, Callable[[str, Any], Any]] = {
    "routing_strategy": _routing_strategy,
    "num_retries": _int(0),
    "timeout": number(0, strict=True),
    "stream_timeout": number(0, strict=True),
    "allowed_fails": _int(0),
    "cooldown_time": number(0),
    "retry_after": number(0),
    "fallbacks": _fallbacks,
    "context_window_fallbacks": _fallbacks,
    "content_policy_fallbacks": _fallbacks,
    "default_fallbacks": _str_or_list,
    "redis_host": _str,
    "redis_port": _int(1),
    "redis_password": _str,
    "redis_url": _str,
    "enable_pre_call_checks": _bool,
    "model_group_alias": _aliases,
    "retry_policy": _policy("RetryPolicy"),
    "model_group_retry_policy": _group_policies,
    "allowed_fails_policy": _policy("AllowedFailsPolicy"),
    "max_fallbacks": _int(0),
    "disable_cooldowns": _bool,
    "routing_strategy_args": checked_dict,
    "set_verbose": _bool,
    "debug_level": _str,
}


def _duration(path: str, value: Any) -> str:
    from ..store.records import parse_duration

    try:
        parse_duration(_str(path, value))
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return value


def _custom_provider_map(path: str, value: Any) -> list:
    """``[{provider: my-llm, custom_handler: custom_handler.my_llm}]``: the handler
    is ``module.attribute``, imported from the config file's folder (see load)."""
    for i, entry in enumerate(checked_list(path, value)):
        entry = checked_dict(f"{path}[{i}]", entry)
        _str(f"{path}[{i}].provider", entry.get("provider"))
        handler = entry.get("custom_handler")
        if not isinstance(handler, str) or "." not in handler.strip("."):
            raise ConfigError(f"{path}[{i}].custom_handler must name module.attribute "
                              f"(e.g. custom_handler.my_custom_llm), got {handler!r}")
    return value


# litellm_settings that polyrelay applies as module settings (``polyrelay.X = value``).
LITELLM_MODULE_SETTINGS: dict[str, Callable[[str, Any], Any]] = {
    "custom_provider_map": _custom_provider_map,
    "drop_params": _bool,
    "num_retries": _int(0),
    "request_timeout": number(0, strict=True),
    "set_verbose": _bool,
}
# litellm_settings that are the Router's in LiteLLM's proxy: handed to the Router.
LITELLM_ROUTER_SETTINGS = ("default_fallbacks", "context_window_fallbacks", "content_policy_fallbacks",
                           "fallbacks", "allowed_fails", "cooldown_time", "num_retries")
# Recognised, kept in ``Config.litellm_settings`` for the features that read
# them (logging callbacks, caching); checked for shape only.
LITELLM_KEPT_SETTINGS: dict[str, Callable[[str, Any], Any]] = {
    "callbacks": _str_or_list,
    "success_callback": _str_or_list,
    "failure_callback": _str_or_list,
    "cache": _bool,
    "cache_params": checked_dict,
    "turn_off_message_logging": _bool,
    "s3_callback_params": checked_dict,  # the s3 logging sink's settings (observe/sinks/s3.py)
    "json_logs": _bool,
    "max_budget": number(0),  # the gateway-wide budget (accounting.py), over budget_duration
    "budget_duration": _duration,
}
# Recognised but not acted on by this version: said at start-up, so a switch
# from LiteLLM never loses logging or caching silently. A feature that
# starts reading one of these removes it from here.
NOT_YET_ACTIVE: frozenset[str] = frozenset()  # every recognised setting is active now
LITELLM_PARAMS: dict[str, Callable[[str, Any], Any]] = {
    "model": _str,
    "api_key": _str,
    "api_base": _str,
    "api_version": _str,
    "timeout": number(0, strict=True),
    "stream_timeout": number(0, strict=True),
    "max_retries": _int(0),
    "num_retries": _int(0),
    "rpm": _int(0),
    "tpm": _int(0),
    "weight": number(0),
    "order": _int(0),
    "input_cost_per_token": number(0),
    "output_cost_per_token": number(0),
    "configurable_clientside_auth_params": checked_list,
}
