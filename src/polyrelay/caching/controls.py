"""Per-request cache controls: ``cache={...}`` in the call (``extra_body``)
or in ``metadata.cache``, with LiteLLM's names.

- ``no-cache``: do not look up (the answer is still stored);
- ``no-store``: do not store this answer;
- ``ttl``: keep this answer that many seconds;
- ``s-maxage``: accept only an entry younger than that many seconds;
- ``namespace``: keep and look up entries under this namespace;
- ``use-cache``: with ``mode="default_off"``, use the cache for this call
  (as ``caching=True`` does in the SDK).

Anything else in ``cache`` is refused by name: a control that was silently
dropped would store or serve what the caller asked us not to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import BadRequestError

KNOWN = ("no-cache", "no-store", "ttl", "s-maxage", "namespace", "use-cache")


@dataclass(frozen=True, slots=True)
class Controls:
    no_cache: bool = False
    no_store: bool = False
    ttl: float | None = None
    s_maxage: float | None = None
    namespace: str | None = None
    use_cache: bool | None = None


NONE = Controls()


def read_controls(kwargs: dict[str, Any]) -> Controls:
    """The request's controls; ``cache`` in the call wins over ``metadata.cache``."""
    found = kwargs.get("cache")
    if found is None:
        metadata = kwargs.get("metadata")
        if isinstance(metadata, dict):
            found = metadata.get("cache")
    if found is None:
        return NONE
    if not isinstance(found, dict):
        raise BadRequestError("'cache' must be an object such as {\"no-cache\": true}.", param="cache")
    for name in found:
        if name not in KNOWN:
            raise BadRequestError(f"cache control {name!r} is not one polyrelay knows; use {', '.join(KNOWN)}.",
                                  param="cache")
    return Controls(
        no_cache=_flag(found, "no-cache"), no_store=_flag(found, "no-store"),
        ttl=_seconds(found, "ttl"), s_maxage=_seconds(found, "s-maxage"),
        namespace=_namespace(found), use_cache=_flag(found, "use-cache") if "use-cache" in found else None,
    )


def _flag(found: dict[str, Any], name: str) -> bool:
    value = found.get(name, False)
    if not isinstance(value, bool):
        raise BadRequestError(f"cache control {name!r} must be true or false.", param="cache")
    return value


def _seconds(found: dict[str, Any], name: str) -> float | None:
    value = found.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise BadRequestError(f"cache control {name!r} must be a number of seconds (0 or more).", param="cache")
    return float(value)


def _namespace(found: dict[str, Any]) -> str | None:
    value = found.get("namespace")
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 200 or ":" in value:
        raise BadRequestError("cache control 'namespace' must be a non-empty string of at most 200 characters "
                              "without ':'.", param="cache")
    return value
