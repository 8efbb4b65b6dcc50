"""``polyrelay.set_verbose = True`` (or ``verbose=True`` on a call): say what
each call sends and gets, on stderr, as LiteLLM's debug printing does.

Lines go to the ``polyrelay.verbose`` logger. When verbose is on and the
application configured no handler for it, one stderr handler is attached,
so the switch works without any logging setup, as it does in LiteLLM.
Bodies are cut to ``MAX_BODY_CHARS`` and pass through ``scrub``: no key
is ever printed.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson

from .params import package_setting
from .redact import scrub

MAX_BODY_CHARS = 2000
logger = logging.getLogger("polyrelay.verbose")


def _env_debug() -> bool:
    """POLYRELAY_LOG / LITELLM_LOG at DEBUG, read as the rest of the logging reads them
    (observe/diagnostics.py: the first one set wins; a value that is no level is refused
    there, at the gateway's start)."""
    from .observe.diagnostics import env_level

    try:
        return env_level() == "DEBUG"
    except ValueError:
        return False


# As set_verbose; read once (the environment is set before start).
ENV_DEBUG = _env_debug()


def enabled(kwargs: dict[str, Any]) -> bool:
    return bool(ENV_DEBUG or kwargs.get("verbose") or package_setting("set_verbose", False))


class _Stderr(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is at each line, as logging's last-resort handler
    does: made once, a handler holding the stream of that moment would keep writing to
    it after the program (a notebook, ``contextlib.redirect_stderr``, a test's capture)
    replaced it."""

    @property
    def stream(self) -> Any:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def log(message: str, *args: Any, secrets: tuple[str, ...] = ()) -> None:
    if not logger.handlers:
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("polyrelay: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False  # printed once, not again by a root handler
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.DEBUG)
    logger.debug(scrub(message % args if args else message, secrets))


def body_text(body: Any, kwargs: dict[str, Any] | None = None) -> str:
    if kwargs is not None and _message_logging_off(kwargs):
        return "(not shown: turn_off_message_logging)"
    try:
        text = orjson.dumps(body, default=str).decode()
    except TypeError:
        text = repr(body)
    return text if len(text) <= MAX_BODY_CHARS else text[:MAX_BODY_CHARS] + "...(cut)"


def _message_logging_off(kwargs: dict[str, Any]) -> bool:
    metadata = kwargs.get("metadata")
    if isinstance(metadata, dict) and metadata.get("turn_off_message_logging") is not None:
        return bool(metadata["turn_off_message_logging"])
    return bool(package_setting("turn_off_message_logging", False))
