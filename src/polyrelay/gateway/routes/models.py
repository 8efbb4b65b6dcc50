"""GET /models, /models/{model} (OpenAI's list and retrieve) and
GET /model/info (LiteLLM's deployment listing, with every credential removed)."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ...errors import NotFoundError, PolyrelayError
from ...redact import scrub
from ..config import is_secret_name
from ..http import context
from .responses import json_response

# Deployment fields that are headers: they can hold credentials under any name.
_HEADER_FIELDS = frozenset({"extra_headers", "headers"})


def _visible_groups(gateway, request: Request) -> list[str]:
    principal = context(request.scope).principal
    names = gateway.router.get_model_names()  # groups and the aliases that are not hidden
    if principal is not None and principal.models is not None:
        names = [n for n in names if n in principal.models]
    return names


def _model_object(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "polyrelay"}


def make_model_routes(gateway):
    created = int(time.time())

    async def list_models(request: Request) -> Response:
        return json_response({"object": "list", "data": [_model_object(n, created)
                                                         for n in _visible_groups(gateway, request)]})

    async def retrieve_model(request: Request) -> Response:
        name = request.path_params["model"]
        if name not in _visible_groups(gateway, request):
            raise NotFoundError(f"The model {name!r} does not exist on this gateway.", param="model",
                                code="model_not_found")
        return json_response(_model_object(name, created))

    async def model_info(request: Request) -> Response:
        visible = set(_visible_groups(gateway, request))
        wanted_id = request.query_params.get("litellm_model_id")
        data = []
        for deployment in gateway.router.get_model_list():
            if deployment.get("model_name") not in visible:
                continue
            info = dict(deployment.get("model_info") or {})
            if wanted_id and info.get("id") != wanted_id:
                continue
            data.append(public_deployment(deployment, gateway.secrets))
        return json_response({"data": data})

    return list_models, retrieve_model, model_info


def public_params(params: dict[str, Any], secrets: tuple[str, ...]) -> dict[str, Any]:
    """litellm_params without credentials: secret-named keys and header maps
    dropped, and any key-shaped text left in other strings masked."""
    shown: dict[str, Any] = {}
    for key, value in params.items():
        if is_secret_name(key) or key in _HEADER_FIELDS:
            continue
        shown[key] = scrub(value, secrets) if isinstance(value, str) else value
    return shown


def public_deployment(deployment: dict[str, Any], secrets: tuple[str, ...]) -> dict[str, Any]:
    params = deployment.get("litellm_params") or {}
    info: dict[str, Any] = {}
    try:
        from ... import get_model_info

        info.update(get_model_info(params.get("model", ""), params.get("custom_llm_provider")))
    except (PolyrelayError, ValueError, KeyError):
        pass  # not in the catalogue (private or mock models): show what the config says
    info.update({k: v for k, v in (deployment.get("model_info") or {}).items() if not is_secret_name(k)})
    return {"model_name": deployment.get("model_name"), "litellm_params": public_params(params, secrets),
            "model_info": info}
