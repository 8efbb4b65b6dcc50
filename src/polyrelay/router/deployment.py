"""A deployment: one entry of a router's ``model_list``."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..cost import PRICE_FIELDS
from ..errors import BadRequestError

# litellm_params that configure routing, not the provider call.
ROUTING_PARAMS = frozenset({"rpm", "tpm", "weight", "order", "configurable_clientside_auth_params",
                            "max_parallel_requests"})


def resolve_env(value: Any) -> Any:
    """LiteLLM configs write secrets as ``os.environ/NAME``."""
    if isinstance(value, str) and value.startswith("os.environ/"):
        name = value[len("os.environ/"):]
        if name not in os.environ:
            raise BadRequestError(f"environment variable {name} is not set (referenced as {value})")
        return os.environ[name]
    if isinstance(value, dict):
        return {k: resolve_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v) for v in value]
    return value


@dataclass(slots=True)
class Deployment:
    model_name: str
    params: dict[str, Any]  # litellm_params, environment references resolved
    model_info: dict[str, Any]
    id: str
    rpm: int | None = None
    tpm: int | None = None
    weight: float | None = None
    order: int | None = None  # lower is tried first; higher only when the lower are cooling or failing
    call_params: dict[str, Any] = field(default_factory=dict)  # what goes to completion()

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> "Deployment":
        if not isinstance(entry, dict) or not entry.get("model_name"):
            raise BadRequestError(f"model_list entry needs a model_name: {entry!r:.200}")
        params = resolve_env(dict(entry.get("litellm_params") or {}))
        if not params.get("model"):
            raise BadRequestError(f"model_list entry {entry['model_name']!r} needs litellm_params.model")
        info = dict(entry.get("model_info") or {})
        ident = str(info.get("id") or _stable_id(entry["model_name"], params))
        info["id"] = ident

        def number(name: str):
            value = params.get(name, entry.get(name, info.get(name)))
            return None if value is None else float(value) if name == "weight" else int(value)

        call_params = {k: v for k, v in params.items() if k not in ROUTING_PARAMS}
        # Prices for private models may sit in model_info (LiteLLM's place for them).
        for name in PRICE_FIELDS:
            if info.get(name) is not None and name not in call_params:
                call_params[name] = info[name]
        return cls(model_name=str(entry["model_name"]), params=params, model_info=info, id=ident,
                   rpm=number("rpm"), tpm=number("tpm"), weight=number("weight"), order=number("order"),
                   call_params=call_params)

    def max_input_tokens(self) -> int | None:
        """The context window: ``model_info.max_input_tokens``, else the
        catalogue's for ``base_model`` or the model (None when unknown)."""
        from ..metadata import get_model_info
        from ..errors import PolyrelayError

        if self.model_info.get("max_input_tokens"):
            return int(self.model_info["max_input_tokens"])
        for name in (self.model_info.get("base_model"), self.params.get("base_model"), self.params.get("model")):
            if not name:
                continue
            try:
                found = get_model_info(str(name)).get("max_input_tokens")
            except PolyrelayError:
                continue  # not in the catalogue: try the next name
            if found:
                return int(found)
        return None

    def as_entry(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "litellm_params": dict(self.params), "model_info": dict(self.model_info)}


def _stable_id(name: str, params: dict[str, Any]) -> str:
    """The same deployment gets the same id in every process (state is keyed by it)."""
    return hashlib.sha256(orjson.dumps([name, params], option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()[:16]
