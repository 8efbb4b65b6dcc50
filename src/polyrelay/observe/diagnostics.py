"""Diagnostics switches: ``LITELLM_LOG`` / ``POLYRELAY_LOG`` (DEBUG, INFO,
WARNING, ERROR), ``--detailed_debug``, and ``json_logs: true``.

At DEBUG (or with ``--debug`` / ``--detailed_debug``) each call prints what
is sent upstream and the raw answer, through ``verbose.py``: credentials
are masked there. ``JsonFormatter`` makes every log line one JSON object
(``timestamp``, ``level``, ``logger``, ``message``, and ``exception`` when
there is one), for log pipelines that parse lines.
"""

from __future__ import annotations

import datetime
import logging
import os

import orjson

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
ENV_NAMES = ("POLYRELAY_LOG", "LITELLM_LOG")


def env_level() -> str | None:
    """The level asked for in the environment, or None. An unknown value is refused by name."""
    for name in ENV_NAMES:
        value = os.environ.get(name)
        if value:
            level = value.strip().upper()
            if level not in LEVELS:
                raise ValueError(f"{name}={value!r} is not a log level; use one of {', '.join(LEVELS)}")
            return level
    return None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "timestamp": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = record.exc_text or self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()
