"""LiteLLM's per-key fields that change what a call does: model aliases,
per-model budgets and rate limits, soft budgets, tags, allowed routes and
key types.

``check`` validates them at ``/key/generate`` and ``/key/update`` (a 400
naming the field) and returns the form stored; the other functions answer
the request path's questions from a key's cached record, so a key without
these fields pays one dict lookup each.
"""

from __future__ import annotations

import math
import time
from typing import Any

from ..errors import BadRequestError, PermissionDeniedError
from ..store.records import parse_duration
from . import schema

MAX_TAGS = 64
MAX_MAP_ITEMS = 1_000

# Paths, without a leading /v1, that make model calls.
LLM_PATHS = frozenset({"/chat/completions", "/completions", "/embeddings", "/moderations", "/responses",
                       "/messages", "/images/generations", "/images/edits", "/audio/speech",
                       "/audio/transcriptions", "/rerank"})
LLM_PREFIXES = ("/openai/deployments/", "/engines/", "/deployments/")
# Paths that read without changing anything.
INFO_PATHS = frozenset({"/key/info", "/user/info", "/team/info", "/models", "/model/info", "/v2/model/info",
                        "/model_group/info", "/spend/logs", "/health"})
# LiteLLM's names for groups of routes, usable in allowed_routes.
ROUTE_GROUPS = {"llm_api_routes": "llm", "openai_routes": "llm", "info_routes": "info"}
# key_type -> the routes it allows; "management" keys are refused: only the master key manages here.
KEY_TYPES = {"default": None, "llm_api": ("llm_api_routes",), "read_only": ("info_routes",)}

# Fields of /key/generate and /key/update that LiteLLM has and polyrelay refuses by name,
# because accepting them would silently change nothing.
REFUSED = {
    "permissions": "key permissions are not supported; restrict a key with models, allowed_routes or key_type",
    "config": "per-key config is not supported; use the config file",
    "enforced_params": "enforced_params is not supported",
    "object_permission": "object_permission (MCP/vector store access) is not supported",
    "organization_id": "a key belongs to an organization through its team: pass team_id (teams join an "
                       "organization with /team/new or /team/update organization_id)",
    "budget_id": "budget objects are not supported yet; set max_budget on the key",
    "rpm_limit_type": "rpm_limit_type is not supported (limits are always enforced)",
    "tpm_limit_type": "tpm_limit_type is not supported (limits are always enforced)",
    "prompts": "per-key prompts are not supported",
    "model_aliases": "use aliases",
}


def _fail(field: str, what: str) -> BadRequestError:
    return BadRequestError(f"Invalid value for {field!r}: {what}.", param=field, code="invalid_value")


def _name_map(field: str, value: Any, check_value, what: str) -> dict[str, Any]:
    if not isinstance(value, dict) or len(value) > MAX_MAP_ITEMS:
        raise _fail(field, f"expected an object of model group names to {what}")
    for name, item in value.items():
        if schema.identifier(name) is not None or not check_value(item):
            raise _fail(f"{field}", f"expected an object of model group names to {what}; {str(name)[:64]!r} is not")
    return value


def _budget(value: Any) -> dict[str, Any] | None:
    """LiteLLM takes a number, or {"budget_limit": number or numeric string, "time_period": "1d"}."""
    limit, period = value, None
    if isinstance(value, dict):
        if set(value) - {"budget_limit", "time_period"}:
            return None
        limit, period = value.get("budget_limit"), value.get("time_period")
    if isinstance(limit, str):
        try:
            limit = float(limit)
        except ValueError:
            return None
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not math.isfinite(limit) or limit < 0:
        return None
    if period is not None:
        try:
            parse_duration(period)
        except (ValueError, TypeError):
            return None
    return {"budget_limit": float(limit), "time_period": period}


def _routes(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_MAP_ITEMS or not all(isinstance(r, str) for r in value):
        raise _fail("allowed_routes", "expected an array of paths (\"/chat/completions\") or route groups ("
                    + ", ".join(ROUTE_GROUPS) + ")")
    for route in value:
        if route not in ROUTE_GROUPS and not route.startswith("/"):
            raise _fail("allowed_routes", f"{route[:64]!r} is neither a path nor one of " + ", ".join(ROUTE_GROUPS))
    return value


def check(data: dict[str, Any]) -> dict[str, Any]:
    """The per-key fields a management request carries, validated, in the form stored."""
    for name, why in REFUSED.items():
        if data.get(name) not in (None, {}, []):
            raise BadRequestError(f"{name}: {why}.", param=name, code="unsupported_field")
    out: dict[str, Any] = {}
    if data.get("aliases") is not None:
        out["aliases"] = _name_map("aliases", data["aliases"], lambda v: schema.identifier(v) is None,
                                   "the model group they call")
    if data.get("model_max_budget") is not None:
        raw = _name_map("model_max_budget", data["model_max_budget"], lambda v: _budget(v) is not None,
                        "a budget (a number, or {\"budget_limit\": ..., \"time_period\": \"1d\"})")
        out["model_max_budget"] = {name: _budget(v) for name, v in raw.items()}
    for field in ("model_rpm_limit", "model_tpm_limit"):
        if data.get(field) is not None:
            out[field] = _name_map(field, data[field], lambda v: schema.integer(0)(v) is None,
                                   "a whole number of at least 0")
    if data.get("soft_budget") is not None:
        if (what := schema.number(0)(data["soft_budget"])) is not None:
            raise _fail("soft_budget", f"expected {what}")
        out["soft_budget"] = float(data["soft_budget"])
    if data.get("tags") is not None:
        tags = data["tags"]
        if (not isinstance(tags, list) or len(tags) > MAX_TAGS
                or not all(schema.identifier(t) is None for t in tags)):
            raise _fail("tags", f"expected an array of at most {MAX_TAGS} strings")
        out["tags"] = tags
    if data.get("allowed_routes") is not None:
        out["allowed_routes"] = _routes(data["allowed_routes"])
    if data.get("key_type") is not None:
        if data["key_type"] not in KEY_TYPES:
            raise BadRequestError(f"key_type must be one of {', '.join(KEY_TYPES)} (only the master key manages, "
                                  f"so there are no management keys); got {str(data['key_type'])[:32]!r}",
                                  param="key_type", code="invalid_value")
        out["key_type"] = data["key_type"]
    return out


FIELDS = ("aliases", "model_max_budget", "model_rpm_limit", "model_tpm_limit", "soft_budget", "tags",
          "allowed_routes", "key_type")


# --- the request path -------------------------------------------------------------------------

def route_rules(row: dict[str, Any]) -> tuple[frozenset[str], ...] | None:
    """What a key's allowed_routes and key_type allow, as sets that must each admit a path;
    None when the key may call every route. Made once per cached key entry."""
    rules = []
    if row.get("allowed_routes"):
        rules.append(frozenset(row["allowed_routes"]))
    type_routes = KEY_TYPES.get(row.get("key_type") or "default")
    if type_routes:
        rules.append(frozenset(type_routes))
    return tuple(rules) or None


def _normal(path: str) -> str:
    path = path.rstrip("/") or "/"
    return path[3:] if path.startswith("/v1/") else path


def _group_of(path: str) -> str | None:
    if path in LLM_PATHS or path.startswith(LLM_PREFIXES):
        return "llm"
    if path in INFO_PATHS:
        return "info"
    return None


def _admits(allowed: frozenset[str], path: str) -> bool:
    group = _group_of(path)
    for route in allowed:
        if ROUTE_GROUPS.get(route) == group and group is not None:
            return True
        if route.endswith("*") and path.startswith(_normal(route[:-1]) if route[:-1] != "/" else "/"):
            return True
        if route.startswith("/") and _normal(route) == path:
            return True
    return False


def check_route(rules: tuple[frozenset[str], ...], path: str) -> None:
    normal = _normal(path)
    for allowed in rules:
        if not _admits(allowed, normal):
            raise PermissionDeniedError(f"this key may not call {path}; its allowed_routes/key_type do not include it",
                                        code="route_not_allowed")


def resolve_alias(principal, model: Any) -> Any:
    """The model group a key's ``aliases`` map the requested name to."""
    entry = getattr(principal, "entry", None)
    if entry is None or not isinstance(model, str):
        return model
    aliases = entry.key.get("aliases")
    return aliases.get(model, model) if aliases else model


def budget_window(period: str | None, at: float | None = None) -> tuple[float | None, float | None]:
    """(start, end) of the current budget window, aligned to the epoch so every
    instance agrees on it; (None, None) for a budget over all time."""
    if not period:
        return None, None
    seconds = parse_duration(period).total_seconds()
    at = time.time() if at is None else at
    start = (at // seconds) * seconds
    return start, start + seconds
