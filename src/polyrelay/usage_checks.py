"""Token counts from a provider, checked before they reach spend.

A provider's answer arrives after the call succeeded and was paid for, so a
bad count in it (negative, not a number, absurd) must neither fail the call
nor corrupt spend: it is read as 0, warned about once per provider and
problem, and counted in ``ANOMALIES`` for a metric. No imports from the rest
of polyrelay, so adapters and the cost step can both use it.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from typing import Any

logger = logging.getLogger("polyrelay")

# Counts a provider could not have meant: far past any model's context window.
ABSURD_TOKENS = 100_000_000
# Bad values seen in providers' usage, by (provider, problem): what a gateway
# exports as a metric, and what tests read. Never reset by the library.
ANOMALIES: Counter[tuple[str, str]] = Counter()


def count(value: Any, provider: str, name: str) -> int:
    """A token count as an int >= 0; anything else is reported and read as 0."""
    if isinstance(value, bool) or value is None:
        return 0 if value is None else _bad(provider, name, value)
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and math.isfinite(value):
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())  # "12": a number sent as a string, still meant as the count
    else:
        return _bad(provider, name, value)
    if number < 0 or number > ABSURD_TOKENS:
        return _bad(provider, name, value)
    return number


def _bad(provider: str, name: str, value: Any) -> int:
    anomaly(provider, f"bad_{name}", f"{name}={str(value)[:40]!r} is not a plausible token count; read as 0")
    return 0


def anomaly(provider: str, problem: str, detail: str) -> None:
    first = (provider, problem) not in ANOMALIES
    ANOMALIES[(provider, problem)] += 1
    if first:  # once per kind of problem, not once per call: a broken provider would flood the log
        logger.warning("polyrelay: %s reported unusable usage (%s); spend records the corrected counts", provider,
                       detail)
