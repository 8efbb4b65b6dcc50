"""The gateway's configuration: LiteLLM's proxy ``config.yaml`` format, read
once at start-up.

An existing LiteLLM config must run unchanged, so the rules are:

- ``environment_variables`` are exported first, then every string of the
  form ``os.environ/NAME`` anywhere in the file is replaced by that
  variable. A missing variable stops start-up, naming it and where it is
  used: better than a 401 at the first request.
- A value of the wrong type or out of range stops start-up, naming the key
  (``general_settings.max_request_size_mb``).
- A key polyrelay does not know is a warning naming it, never an error:
  LiteLLM configs carry many settings for features of its own.

Everything is checked and converted here, so nothing on the request path
parses configuration again. What each key accepts is in ``config_rules.py``;
this module reads the file, resolves the environment, applies those rules,
and loads what the config names (guardrails, callbacks, custom handlers).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import config_audit
from .config_rules import (
    GENERAL_SETTINGS,
    LITELLM_KEPT_SETTINGS,
    LITELLM_MODULE_SETTINGS,
    LITELLM_PARAMS,
    LITELLM_ROUTER_SETTINGS,
    NOT_YET_ACTIVE,
    ROUTER_SETTINGS,
    ConfigError,
    checked_dict,
    checked_list,
    number,
    type_name,
)

log = logging.getLogger("polyrelay.gateway")

ENV_PREFIX = "os.environ/"
DEFAULT_MAX_REQUEST_SIZE_MB = 32.0
DEFAULT_MAX_BATCH_MODELS = 10  # model="a,b,...": upstream calls one request may fan out to
DEFAULT_HEALTH_CHECK_INTERVAL = 10.0  # seconds: GET /health answers from its last check until then

# With no --config and no --model: a gateway that answers with no keys and no
# network. The OpenAI-style names let unchanged OpenAI client code run on it.
DEFAULT_CONFIG: dict[str, Any] = {
    "model_list": [
        {"model_name": "mock", "litellm_params": {"model": "mock/demo"}},
        {"model_name": "gpt-3.5-turbo", "litellm_params": {"model": "mock/gpt-3.5-turbo"}},
        {"model_name": "gpt-4o", "litellm_params": {"model": "mock/gpt-4o"}},
        {"model_name": "gpt-3.5-turbo-instruct", "litellm_params": {"model": "mock/gpt-3.5-turbo-instruct"}},
        {"model_name": "text-embedding-ada-002", "litellm_params": {"model": "mock/text-embedding-ada-002"},
         "model_info": {"mode": "embedding"}},
        {"model_name": "text-moderation-stable", "litellm_params": {"model": "mock/text-moderation-stable"},
         "model_info": {"mode": "moderation"}},
    ],
}


TOP_LEVEL = ("model_list", "router_settings", "litellm_settings", "general_settings", "environment_variables",
             "guardrails")


@dataclass
class Config:
    """A checked configuration, ready to serve."""

    model_list: list[dict[str, Any]]
    router_settings: dict[str, Any] = field(default_factory=dict)
    litellm_settings: dict[str, Any] = field(default_factory=dict)
    general_settings: dict[str, Any] = field(default_factory=dict)
    guardrails: list[Any] = field(default_factory=list)
    source: str = "embedded default"
    warnings: list[str] = field(default_factory=list)

    @property
    def master_key(self) -> str | None:
        return self.general_settings.get("master_key") or None

    @property
    def max_request_bytes(self) -> int:
        return int(self.general_settings.get("max_request_size_mb", DEFAULT_MAX_REQUEST_SIZE_MB) * 1024 * 1024)

    @property
    def allow_client_side_credentials(self) -> bool:
        return bool(self.general_settings.get("allow_client_side_credentials", False))

    @property
    def allow_client_side_metadata_hosts(self) -> bool:
        return bool(self.general_settings.get("allow_client_side_metadata_hosts", False))

    @property
    def user_config_providers(self) -> frozenset[str]:
        """Providers a request's ``user_config`` may use: by default those with a public
        https endpoint of their own (never one found in the gateway's environment) and mock/."""
        listed = self.general_settings.get("user_config_providers")
        if listed is not None:
            return frozenset(listed)
        from ..providers import ADAPTERS

        return frozenset({"mock", *(name for name, adapter in ADAPTERS.items()
                                    if adapter.default_api_base.startswith("https://"))})

    @property
    def max_batch_models(self) -> int:
        return int(self.general_settings.get("max_batch_models", DEFAULT_MAX_BATCH_MODELS))

    @property
    def health_check_interval(self) -> float:
        """The least time between two upstream checks of GET /health (each costs a call per deployment)."""
        return float(self.general_settings.get("health_check_interval", DEFAULT_HEALTH_CHECK_INTERVAL))

    def router_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Router(...)``: router_settings, plus the
        Router-level litellm_settings LiteLLM reads from there."""
        settings = {k: v for k, v in self.litellm_settings.items() if k in LITELLM_ROUTER_SETTINGS}
        settings.update(self.router_settings)
        return settings

    def secrets(self) -> tuple[str, ...]:
        """Every credential in the config, to scrub from anything we send back."""
        found = [self.master_key]
        for deployment in self.model_list:
            for key, value in deployment.get("litellm_params", {}).items():
                if isinstance(value, str) and is_secret_name(key):
                    found.append(value)
                elif key in ("extra_headers", "headers") and isinstance(value, dict):
                    found.extend(str(v) for v in value.values())
        found.append(self.router_settings.get("redis_password"))
        found.append(self.general_settings.get("ui_password"))
        for section in ("cache_params", "s3_callback_params"):  # a cache's password, S3 credentials
            params = self.litellm_settings.get(section)
            if isinstance(params, dict):
                found.extend(v for k, v in params.items() if isinstance(v, str) and is_secret_name(k))
        return tuple(s for s in found if s and len(s) >= 4)


_SECRET_MARKERS = ("key", "secret", "token", "password", "credential")


def is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(marker in lowered for marker in _SECRET_MARKERS)


def resolve_environment(node: Any, path: str, missing: list[str], resolved: dict[str, str] | None = None) -> Any:
    """Replace ``os.environ/NAME`` strings, recording the ones that are unset
    (and in ``resolved``, value -> name, the ones that were replaced)."""
    if isinstance(node, str):
        if node.startswith(ENV_PREFIX):
            name = node[len(ENV_PREFIX):]
            value = os.environ.get(name)
            if value is None:
                missing.append(f"{name} (used by {path})")
            elif resolved is not None:
                resolved[value] = name
            return value
        return node
    if isinstance(node, dict):
        return {k: resolve_environment(v, f"{path}.{k}" if path else str(k), missing, resolved)
                for k, v in node.items()}
    if isinstance(node, list):
        return [resolve_environment(v, f"{path}[{i}]", missing, resolved) for i, v in enumerate(node)]
    return node


def _hide_resolved(message: str, resolved: dict[str, str]) -> str:
    """A config error names the bad key and shows its value, but a value read
    from the environment is usually a secret: it is shown as where it came from."""
    for value, name in sorted(resolved.items(), key=lambda item: -len(item[0])):
        shown = f"<the value of {ENV_PREFIX}{name}>"
        message = message.replace(repr(value), shown)  # how the checkers quote a value
        if len(value) >= 8:  # bare, too: long enough not to be a common word ("true", "60")
            message = message.replace(value, shown)
    return message


def _check_section(section: str, values: dict[str, Any], known: dict[str, Callable[[str, Any], Any]],
                   warnings: list[str], warn_unknown: bool = True) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for key, value in values.items():
        check = known.get(key)
        if check is None:
            _audit(section, key, value, warnings, warn_unknown)
            continue
        checked[key] = value if value is None else check(f"{section}.{key}", value)
    return checked


def _audit(section: str, key: str, value: Any, warnings: list[str], warn_unknown: bool = True) -> None:
    """A setting polyrelay does not act on: refused if it changes calls, else a warning naming it."""
    refused = config_audit.refusal(section, key, value)
    if refused is not None:
        raise ConfigError(refused)
    if config_audit.is_no_effect(section, key):
        warnings.append(f"{section}.{key} has no effect on calls and is not used by polyrelay; ignored")
    elif warn_unknown:
        warnings.append(f"{section}.{key} is not a setting polyrelay knows; ignored")


_PRICE_NAME = re.compile(r"(^|_)cost(_|$)")


def _check_deployment(index: int, entry: Any) -> dict[str, Any]:
    path = f"model_list[{index}]"
    entry = dict(checked_dict(path, entry))
    name = entry.get("model_name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{path}.model_name is required and must be a non-empty string")
    params = dict(checked_dict(f"{path}.litellm_params", entry.get("litellm_params")))
    if not isinstance(params.get("model"), str) or not params["model"]:
        raise ConfigError(f"{path}.litellm_params.model is required and must be a non-empty string")
    for key, value in params.items():
        if (refused := config_audit.refusal("litellm_params", key, value)) is not None:
            raise ConfigError(f"{path}.{refused}")
        check = LITELLM_PARAMS.get(key)
        # Other litellm_params are provider-specific and pass through as given.
        if check is not None and value is not None:
            params[key] = check(f"{path}.litellm_params.{key}", value)
    entry["litellm_params"] = params
    info = entry["model_info"] = dict(checked_dict(f"{path}.model_info", entry.get("model_info") or {}))
    # Every price (input_cost_per_request, cache_read_input_token_cost...) is a number of at least 0.
    for section, values in (("litellm_params", params), ("model_info", info)):
        for key, value in values.items():
            if value is not None and _PRICE_NAME.search(key):
                values[key] = number(0)(f"{path}.{section}.{key}", value)
    return entry


def build(raw: Any, source: str = "config") -> Config:
    """Check a parsed config (a dict as YAML gives it) and make a ``Config``.
    Exports ``environment_variables`` into this process's environment."""
    resolved: dict[str, str] = {}
    try:
        return _build(raw, source, resolved)
    except ConfigError as exc:
        if not resolved:
            raise
        raise ConfigError(_hide_resolved(str(exc), resolved)) from None


def _build(raw: Any, source: str, resolved: dict[str, str]) -> Config:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections, got {type_name(raw)}")
    warnings: list[str] = []
    if raw.get("include"):  # LiteLLM merges other files' model_list and settings: without them, calls change
        raise ConfigError("include: merging other config files is not supported; put their settings in this file")
    for key in raw:
        if key not in TOP_LEVEL:
            warnings.append(f"{key} is not a section polyrelay knows; ignored")
    env_vars = checked_dict("environment_variables", raw.get("environment_variables") or {})
    missing: list[str] = []
    for name, value in resolve_environment(env_vars, "environment_variables", missing, resolved).items():
        if value is not None:
            os.environ[str(name)] = str(value)
    body = {k: raw.get(k) for k in TOP_LEVEL if k != "environment_variables"}
    body = resolve_environment(body, "", missing, resolved)
    if missing:
        raise ConfigError("environment variables referenced with os.environ/ are not set: " + "; ".join(missing))

    model_list = [_check_deployment(i, e) for i, e in enumerate(checked_list("model_list", body["model_list"] or []))]
    general = _check_section("general_settings", checked_dict("general_settings", body["general_settings"] or {}),
                             GENERAL_SETTINGS, warnings)
    if general.get("store_model_in_db") and not (os.environ.get("POLYRELAY_SALT_KEY")
                                                 or os.environ.get("LITELLM_SALT_KEY")):
        raise ConfigError("general_settings.store_model_in_db: true needs POLYRELAY_SALT_KEY (or LITELLM_SALT_KEY) "
                          "set in the environment: the provider credentials of stored models are encrypted with it")
    # router_settings are the Router's keyword arguments: the ones checked
    # here are converted, the rest go to the Router as given, which warns
    # about the ones it does not know.
    router = dict(checked_dict("router_settings", body["router_settings"] or {}))
    router.update(_check_section("router_settings", router, ROUTER_SETTINGS, warnings, warn_unknown=False))
    litellm_raw = checked_dict("litellm_settings", body["litellm_settings"] or {})
    litellm: dict[str, Any] = {}
    for key, value in litellm_raw.items():
        check = LITELLM_MODULE_SETTINGS.get(key) or LITELLM_KEPT_SETTINGS.get(key)
        if check is None and key in LITELLM_ROUTER_SETTINGS:
            check = ROUTER_SETTINGS[key]
        if check is None:
            _audit("litellm_settings", key, value, warnings)
            continue
        litellm[key] = value if value is None else check(f"litellm_settings.{key}", value)
        if f"litellm_settings.{key}" in NOT_YET_ACTIVE:
            warnings.append(f"litellm_settings.{key} is recognised but not active in this version; ignored")
    if "cache" in litellm or "cache_params" in litellm:
        from ..caching.settings import cache_arguments

        try:
            litellm["cache_params"] = cache_arguments(litellm, warnings,
                                                      [str(d.get("model_name")) for d in model_list])
        except ValueError as exc:
            raise ConfigError(f"litellm_settings.cache_params: {exc}") from None
    guardrails = checked_list("guardrails", body["guardrails"] or [])
    return Config(model_list=model_list, router_settings=router, litellm_settings=litellm,
                  general_settings=general, guardrails=guardrails, source=source, warnings=warnings)


def load(path: str | os.PathLike[str] | None = None, model: str | None = None) -> Config:
    """The config to serve: a file, a one-model quick start, or the embedded default.
    ``--model`` with ``--config`` adds that model to the file's list."""
    if path is None:
        raw: dict[str, Any] = {"model_list": []} if model else dict(DEFAULT_CONFIG)
        source = f"--model {model}" if model else "embedded default"
    else:
        raw, source = _read_yaml(Path(path)), str(path)
    if model:
        raw = dict(raw)
        raw["model_list"] = list(raw.get("model_list") or []) + [
            {"model_name": model, "litellm_params": {"model": model}}]
    config = build(raw, source)
    folder = os.path.dirname(os.path.abspath(path)) if path is not None else os.getcwd()
    _load_custom_handlers(config, folder)
    _load_callbacks(config, folder)
    config.guardrails = load_guardrails(config, folder)
    if not config.model_list:
        config.warnings.append("model_list is empty: every model request will answer 400 (unknown model)")
    return config


def load_guardrails(config: Config, folder: str) -> list[Any]:
    """The ``guardrails:`` section as guardrail objects (guardrails/setup.py); a bad entry stops start-up."""
    entries = config.guardrails
    if not entries or not isinstance(entries[0], dict):
        return entries  # none, or built already
    from ..guardrails import GuardrailConfigError, build_guardrails

    try:
        built = build_guardrails(entries, folder, {d.get("model_name") for d in config.model_list})
    except GuardrailConfigError as exc:
        raise ConfigError(str(exc)) from None
    return built


def _load_custom_handlers(config: Config, folder: str) -> None:
    """Import each ``custom_provider_map`` handler (``module.attribute``), looking in
    the config file's folder first, as LiteLLM's proxy does. Every process that
    loads the config (each worker) imports them itself."""
    import importlib
    import sys

    entries = config.litellm_settings.get("custom_provider_map")
    if not entries:
        return
    if folder not in sys.path:
        sys.path.insert(0, folder)
    loaded = []
    for i, entry in enumerate(entries):
        module_name, _, attribute = entry["custom_handler"].rpartition(".")
        try:
            handler = getattr(importlib.import_module(module_name), attribute)
        except Exception as exc:  # the admin's own module, failing in any way: stop start-up, naming it
            raise ConfigError(f"litellm_settings.custom_provider_map[{i}].custom_handler "
                              f"{entry['custom_handler']!r} could not be loaded: {type(exc).__name__}: {exc}") from None
        loaded.append({"provider": entry["provider"], "custom_handler": handler})
    config.litellm_settings["custom_provider_map"] = loaded


def _load_callbacks(config: Config, folder: str) -> None:
    """Logging callbacks: names checked, ``module.instance`` imported (observe/config.py)."""
    from ..observe.config import CallbackConfigError, load_callbacks

    try:
        load_callbacks(config.litellm_settings, folder)
    except CallbackConfigError as exc:
        raise ConfigError(str(exc)) from None
    settings = config.litellm_settings
    named = {e for key in ("callbacks", "success_callback", "failure_callback") for e in settings.get(key) or ()
             if isinstance(e, str)}
    if settings.get("s3_callback_params") and not named & {"s3", "s3_v2"}:
        config.warnings.append("litellm_settings.s3_callback_params is set but no callback list names s3: "
                               "nothing is written to S3")


def _read_yaml(path: Path) -> Any:
    import yaml  # the proxy extra; the SDK alone never imports this module

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
