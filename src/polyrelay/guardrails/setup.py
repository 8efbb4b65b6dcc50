"""The ``guardrails:`` section of a config, as LiteLLM writes it, made into guardrail objects.

Checked whole at start-up: an unknown guardrail type, mode or option, a
duplicate name or a custom class that cannot be loaded stops start-up with
a message naming the entry. Nothing is accepted that would then do nothing.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from typing import Any

from .base import MODES, CustomGuardrail, overrides
from .builtins import BUILTINS, COMMON_OPTIONS, OWN_OPTIONS
from .scanning import ACTIONS, TextGuardrail

NAME = re.compile(r"[A-Za-z0-9._:-]{1,100}")
# Keys of litellm_params read by the runner, not handed to the guardrail.
RUNNER_KEYS = ("guardrail", "mode", "default_on")


class GuardrailConfigError(ValueError):
    """A guardrail entry that cannot be served; the message names it."""


def build_guardrails(entries: list[Any], folder: str, groups: set[str] | None = None) -> list[CustomGuardrail]:
    """``groups``: the config's model group names, which ``moderation`` must name one of."""
    built: list[CustomGuardrail] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"guardrails[{i}]"
        if not isinstance(entry, dict):
            raise GuardrailConfigError(f"{where} must be a mapping with guardrail_name and litellm_params")
        name = entry.get("guardrail_name")
        if not isinstance(name, str) or not name:
            raise GuardrailConfigError(f"{where}.guardrail_name must be a non-empty string")
        where = f"guardrails[{i}] ({name})"
        if not NAME.fullmatch(name):
            raise GuardrailConfigError(f"{where}.guardrail_name: use letters, digits and . _ - : only "
                                       "(the names travel in response headers, comma-separated)")
        if name in seen:
            raise GuardrailConfigError(f"{where}: guardrail_name {name!r} is used twice")
        seen.add(name)
        params = entry.get("litellm_params")
        if not isinstance(params, dict) or not isinstance(params.get("guardrail"), str):
            raise GuardrailConfigError(f"{where}.litellm_params.guardrail must name a built-in or module.Class")
        for key in entry:
            if key not in ("guardrail_name", "litellm_params", "guardrail_info"):
                raise GuardrailConfigError(f"{where}: unknown key {key!r}")
        modes = _modes(where, params.get("mode", "pre_call"))
        default_on = params.get("default_on", False)
        if not isinstance(default_on, bool):
            raise GuardrailConfigError(f"{where}.litellm_params.default_on must be true or false")
        options = {k: v for k, v in params.items() if k not in RUNNER_KEYS}
        kind = params["guardrail"]
        if kind in BUILTINS:
            if "logging_only" in modes and getattr(BUILTINS[kind], "remote", False):
                raise GuardrailConfigError(f"{where}.litellm_params.mode: logging_only is not supported by the "
                                           f"{kind} guardrail in this version")
            if kind == "moderation" and groups is not None and options.get("model") not in groups:
                raise GuardrailConfigError(f"{where}.litellm_params.model: {options.get('model')!r} is not a model "
                                           "group of this config")
            guardrail = _builtin(where, kind, name, modes, default_on, options)
        elif "." in kind:
            guardrail = _custom(where, kind, name, modes, default_on, options, folder)
        else:
            raise GuardrailConfigError(f"{where}.litellm_params.guardrail: unknown guardrail type {kind!r}; "
                                       f"built-ins are {', '.join(sorted(BUILTINS))}, or module.Class for a "
                                       "custom class in a .py file beside the config")
        guardrail.guardrail_type = kind  # as the config named it, for /guardrails/list
        built.append(guardrail)
    return built


def _modes(where: str, mode: Any) -> list[str]:
    modes = [mode] if isinstance(mode, str) else mode
    if not isinstance(modes, list) or not modes:
        raise GuardrailConfigError(f"{where}.litellm_params.mode must be one of {', '.join(MODES)} or a list of them")
    for m in modes:
        if m not in MODES:
            raise GuardrailConfigError(f"{where}.litellm_params.mode: unknown mode {m!r}; known: {', '.join(MODES)}")
    return list(dict.fromkeys(modes))


def _builtin(where, kind, name, modes, default_on, options) -> CustomGuardrail:
    cls = BUILTINS[kind]
    allowed = set(COMMON_OPTIONS) | set(OWN_OPTIONS[cls])
    for key in options:
        if key not in allowed:
            raise GuardrailConfigError(f"{where}.litellm_params.{key}: not an option of the {kind} guardrail "
                                       f"(it takes: {', '.join(sorted(allowed))})")
    action = options.get("action", "block")
    if action not in ACTIONS:
        raise GuardrailConfigError(f"{where}.litellm_params.action: unknown action {action!r}; "
                                   f"known: {', '.join(ACTIONS)}")
    try:
        cls.check_options(name, options) if hasattr(cls, "check_options") else None
    except ValueError as exc:
        raise GuardrailConfigError(f"{where}.litellm_params: {exc}") from None
    return cls(name, event_hook=modes, default_on=default_on, **options)


def _custom(where, kind, name, modes, default_on, options, folder) -> CustomGuardrail:
    """``module.Class`` from a .py beside the config (looked for there first), as LiteLLM loads it."""
    if "logging_only" in modes:
        raise GuardrailConfigError(f"{where}.litellm_params.mode: logging_only is not supported for custom classes "
                                   "in this version")
    module_name, _, attribute = kind.rpartition(".")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        cls = getattr(importlib.import_module(module_name), attribute)
    except Exception as exc:  # the admin's own module, failing in any way: stop start-up, naming it
        raise GuardrailConfigError(f"{where}.litellm_params.guardrail {kind!r} could not be loaded: "
                                   f"{type(exc).__name__}: {exc}") from None
    if not (inspect.isclass(cls) and issubclass(cls, CustomGuardrail)):
        raise GuardrailConfigError(f"{where}.litellm_params.guardrail {kind!r} is not a CustomGuardrail subclass")
    try:
        guardrail = cls(guardrail_name=name, event_hook=modes, default_on=default_on, **options)
    except Exception as exc:
        raise GuardrailConfigError(f"{where}: {kind}(...) failed: {type(exc).__name__}: {exc}") from None
    # A subclass that does not pass these on to CustomGuardrail.__init__ still gets them.
    guardrail.guardrail_name, guardrail.event_hook, guardrail.default_on = name, modes, default_on
    if overrides(guardrail, "apply_guardrail"):
        from .text_hook import TextHook

        return TextHook(guardrail)
    return guardrail


def is_text_guardrail(guardrail: CustomGuardrail) -> bool:
    return isinstance(guardrail, TextGuardrail)
