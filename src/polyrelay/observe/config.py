"""Callbacks named in a gateway config (``litellm_settings.callbacks``,
``success_callback``, ``failure_callback``), checked and loaded at start-up.

Each entry is a sink name (``langfuse``, ``generic_api``, ``prometheus``, ``otel``, ``s3``)
or ``module.instance``: the object ``instance`` in ``module.py`` beside the
config file, imported as LiteLLM's proxy does. That runs the code in that
file, with the gateway's rights: only point a config at files you trust.
A name polyrelay does not serve, a module that fails to import, or a sink
missing its settings stops start-up with a message naming the entry.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from .handlers import NAMED_SINKS, UnknownCallback, known_names, sink_for

SETTINGS = ("callbacks", "success_callback", "failure_callback")


class CallbackConfigError(ValueError):
    pass


def load_callbacks(settings: dict[str, Any], folder: str) -> None:
    """Replace each ``module.instance`` entry by the object; check every name."""
    for setting in SETTINGS:
        entries = settings.get(setting)
        if entries is None:
            continue
        if isinstance(entries, str):
            entries = [entries]
        loaded = []
        for i, entry in enumerate(entries):
            where = f"litellm_settings.{setting}[{i}]"
            if not isinstance(entry, str):
                loaded.append(entry)
                continue
            known_names()  # fills NAMED_SINKS
            if entry in NAMED_SINKS:
                try:
                    if entry in ("s3", "s3_v2"):  # its settings are in this config, not yet on the module
                        from .sinks.s3 import S3Sink

                        S3Sink(settings.get("s3_callback_params"))
                    else:
                        sink_for(entry)
                except (UnknownCallback, ValueError) as exc:
                    raise CallbackConfigError(f"{where}: {exc}") from None
                loaded.append(entry)
            elif "." in entry.strip("."):
                loaded.append(_import(where, entry, folder))
            else:
                raise CallbackConfigError(f"{where}: callback {entry!r} is not one polyrelay serves; use one of "
                                          f"{', '.join(known_names())}, or module.instance for a CustomLogger "
                                          "in a .py file beside the config")
        settings[setting] = loaded


def _import(where: str, entry: str, folder: str) -> Any:
    module_name, _, attribute = entry.rpartition(".")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except Exception as exc:  # the admin's own module failing in any way: stop start-up, naming it
        raise CallbackConfigError(f"{where} {entry!r} could not be loaded: {type(exc).__name__}: {exc}") from None
