"""LiteLLM's model management: /model/new, /model/update, /model/delete
(with ``general_settings.store_model_in_db: true``), and the read-only
/v2/model/info and /model_group/info.

Request and answer shapes are LiteLLM's: ``{model_name, litellm_params,
model_info: {id}}``. Credentials in ``litellm_params`` are stored encrypted
(gateway/model_store.py) and always answered masked. Only the master key
changes models; a change is served by this instance at once and by every
other within about a second.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ...errors import BadRequestError, NotFoundError
from ...router.deployment import Deployment
from .. import schema
from ..config import ConfigError, _check_deployment
from ..http import parse_json_object
from ..model_store import masked_params
from .models import _visible_groups, public_deployment
from .responses import json_response

ENTRY_FIELDS = frozenset({"model_name", "litellm_params", "model_info"})


def _checked(data: dict[str, Any], path: str) -> dict[str, Any]:
    for name in data:
        if name not in ENTRY_FIELDS:
            raise BadRequestError(f"Unknown field {str(name)[:64]!r} for {path}: a model is model_name, "
                                  "litellm_params and model_info.", param=str(name)[:64], code="unsupported_field")
    try:
        entry = _check_deployment(0, data)
    except ConfigError as exc:
        message = str(exc).replace("model_list[0].", "")
        raise BadRequestError(message, param=message.split(" ", 1)[0].split(".")[0], code="invalid_value") from None
    for name, value in (("model_name", entry["model_name"]), ("model_info.id", entry["model_info"].get("id"))):
        if value is not None and (what := schema.identifier(value if isinstance(value, str) else str(value))):
            raise schema.invalid(name, what, value)
    Deployment.from_entry(entry)  # what the Router will refuse, refused now (a 400 naming it)
    return entry


def _answer(model_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    return {"model_id": model_id, "model_name": entry["model_name"],
            "litellm_params": masked_params(entry.get("litellm_params") or {}),
            "model_info": {**(entry.get("model_info") or {}), "id": model_id, "db_model": True}}


def make_model_admin_routes(gateway, run, require_admin) -> list[tuple[str, Any, list[str], str]]:
    def store():
        if gateway.models is None:
            raise BadRequestError("Models are managed through the API only with general_settings.store_model_in_db: "
                                  "true (and POLYRELAY_SALT_KEY set); this gateway serves the config's model_list.",
                                  param="store_model_in_db", code="store_model_in_db_off")
        return gateway.models.store

    def config_ids() -> set[str]:
        return {d.id for d in gateway.router.deployments if not d.model_info.get("db_model")}

    async def new(request: Request) -> Response:
        require_admin(request)
        models = store()
        entry = _checked(parse_json_object(await request.body()), request.url.path)
        wanted = (entry.get("model_info") or {}).get("id")
        if wanted is not None and (str(wanted) in config_ids() or await run(models.get, str(wanted)) is not None):
            raise BadRequestError(f"A model with id {str(wanted)[:64]!r} already exists", param="model_info.id",
                                  code="already_exists")
        model_id = await run(models.add, entry["model_name"], entry["litellm_params"], entry["model_info"])
        await gateway.models.reload()
        return json_response(_answer(model_id, entry))

    async def change(request: Request) -> Response:
        require_admin(request)
        models = store()
        data = parse_json_object(await request.body())
        info_given = data.get("model_info") or {}
        if not isinstance(info_given, dict) or not isinstance(data.get("litellm_params") or {}, dict):
            raise BadRequestError("model_info and litellm_params must be objects", param="model_info")
        model_id = request.path_params.get("model_id") or info_given.get("id")
        if not isinstance(model_id, str) or not model_id:
            raise BadRequestError("model_info.id is required: the id /model/new answered", param="model_info.id")
        current = await run(models.get, model_id)
        if current is None:
            if model_id in config_ids():
                raise BadRequestError(f"Model {model_id!r} comes from the config file; change it there",
                                      param="model_info.id", code="config_model")
            raise NotFoundError(f"No stored model with id {model_id!r}", param="model_info.id")
        params = dict(current["litellm_params"])
        params.update({k: v for k, v in (data.get("litellm_params") or {}).items() if v is not None})
        info = {**current["model_info"], **info_given, "id": model_id}
        entry = _checked({"model_name": data.get("model_name") or current["model_name"], "litellm_params": params,
                          "model_info": info}, request.url.path)
        await run(models.replace, model_id, entry["model_name"], entry["litellm_params"], entry["model_info"])
        await gateway.models.reload()
        return json_response(_answer(model_id, entry))

    async def remove(request: Request) -> Response:
        require_admin(request)
        models = store()
        data = parse_json_object(await request.body())
        model_id = data.get("id")
        if set(data) - {"id"} or not isinstance(model_id, str):
            raise BadRequestError('pass {"id": <model_info.id>}', param="id")
        if not await run(models.delete, model_id):
            if model_id in config_ids():
                raise BadRequestError(f"Model {model_id!r} comes from the config file; remove it there",
                                      param="id", code="config_model")
            raise NotFoundError(f"No stored model with id {model_id!r}", param="id")
        await gateway.models.reload()
        return json_response({"message": f"Model: {model_id} deleted successfully"})

    async def v2_info(request: Request) -> Response:
        visible = set(_visible_groups(gateway, request))
        wanted = request.query_params.get("model")
        data = [public_deployment(d, gateway.secrets) for d in gateway.router.get_model_list()
                if d.get("model_name") in visible and (wanted is None or d.get("model_name") == wanted)]
        return json_response({"data": data})

    async def group_info(request: Request) -> Response:
        wanted = request.query_params.get("model_group")
        groups = [g for g in _visible_groups(gateway, request) if wanted is None or g == wanted]
        if wanted is not None and not groups:
            raise NotFoundError(f"No model group {wanted!r}", param="model_group", code="model_not_found")
        data = [dict(found) for g in groups if (found := gateway.router.get_model_group_info(g)) is not None]
        return json_response({"data": data})

    return [
        ("/model/new", new, ["POST"], "Add a model (store_model_in_db): served by every instance within seconds"),
        ("/model/update", change, ["POST"], "Change a stored model (model_info.id names it)"),
        ("/model/{model_id}/update", change, ["PATCH"], "Change a stored model"),
        ("/model/delete", remove, ["POST"], "Remove a stored model"),
        ("/v2/model/info", v2_info, ["GET"], "Deployments (filter: model), no credentials"),
        ("/model_group/info", group_info, ["GET"], "What each model group can do (filter: model_group)"),
    ]
