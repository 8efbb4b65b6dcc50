"""Budget objects (LiteLLM's /budget/new|info|update|delete|list): limits
defined once and shared by the customers (end users) linked to them with
``budget_id``. Each linked customer's spend is its own; the budget object
says how much each may spend, how fast and over what period. Only the
master key calls these.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ...errors import BadRequestError, NotFoundError
from ...store.records import parse_duration
from .. import schema
from ..http import parse_json_object
from .responses import json_response

RULES: dict[str, schema.Rule] = {
    "budget_id": schema.identifier, "max_budget": schema.number(0), "soft_budget": schema.number(0),
    "budget_duration": schema.identifier, "rpm_limit": schema.integer(0), "tpm_limit": schema.integer(0),
    "max_parallel_requests": schema.integer(0),
}


def checked_fields(data: dict[str, Any], path: str, rules: dict[str, Any]) -> dict[str, Any]:
    """A management body checked field by field against ``rules`` (budget and organization
    routes share this): an unknown field or a bad value is a 400 naming it."""
    for name, value in data.items():
        rule = rules.get(name)
        if rule is None:
            raise BadRequestError(f"Unknown field {str(name)[:64]!r} for {path}: polyrelay does not support it.",
                                  param=str(name)[:64], code="unsupported_field")
        if value is not None and (what := rule(value)) is not None:
            raise schema.invalid(name, what, value)
    if data.get("budget_duration"):
        try:
            parse_duration(data["budget_duration"])
        except ValueError as exc:
            raise BadRequestError(str(exc), param="budget_duration") from None
    return dict(data)


def make_budget_routes(run, records, forget, require_admin) -> list[tuple[str, Any, list[str], str]]:
    async def new(request: Request) -> Response:
        require_admin(request)
        fields = checked_fields(parse_json_object(await request.body()), request.url.path, RULES)
        fields.setdefault("budget_id", str(uuid.uuid4()))
        if await run(records().get, "budget", fields["budget_id"]) is not None:
            raise BadRequestError(f"budget {fields['budget_id']!r} already exists", param="budget_id",
                                  code="already_exists")
        return json_response(await run(records().create, "budget", fields))

    async def info(request: Request) -> Response:
        require_admin(request)
        data = parse_json_object(await request.body()) if request.method == "POST" else {
            "budgets": request.query_params.getlist("budgets") or request.query_params.getlist("budget_id")}
        ids = data.get("budgets")
        if set(data) - {"budgets"} or not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise BadRequestError("budgets must be a list of budget ids", param="budgets")
        rows = [await run(records().get, "budget", ident) for ident in ids]
        return json_response([row for row in rows if row is not None])

    async def change(request: Request) -> Response:
        require_admin(request)
        fields = checked_fields(parse_json_object(await request.body()), request.url.path, RULES)
        ident = fields.pop("budget_id", None)
        if not isinstance(ident, str):
            raise BadRequestError("budget_id is required", param="budget_id")
        row = await run(records().update, "budget", ident, fields)
        if row is None:
            raise NotFoundError(f"No such budget: {ident!r}", param="budget_id")
        forget()  # customers are cached with their budget's limits
        return json_response(row)

    async def remove(request: Request) -> Response:
        require_admin(request)
        data = parse_json_object(await request.body())
        ident = data.get("id")
        if set(data) - {"id"} or not isinstance(ident, str):
            raise BadRequestError("pass {\"id\": <budget_id>}", param="id")
        linked = await run(lambda: records().count("customer", budget_id=ident))
        if linked:
            raise BadRequestError(f"budget {ident!r} is linked to {linked} customer(s); link them elsewhere first",
                                  param="id", code="budget_in_use")
        if not await run(records().delete, "budget", [ident]):
            raise NotFoundError(f"No such budget: {ident!r}", param="id")
        return json_response({"deleted": ident})

    async def list_all(request: Request) -> Response:
        require_admin(request)
        return json_response(await run(lambda: records().list("budget", size=1000)))

    return [
        ("/budget/new", new, ["POST"], "Create a budget object (limits customers can be linked to)"),
        ("/budget/info", info, ["POST", "GET"], "Budget objects by id"),
        ("/budget/update", change, ["POST"], "Change a budget object (applies to every linked customer)"),
        ("/budget/delete", remove, ["POST"], "Delete a budget object no customer is linked to"),
        ("/budget/list", list_all, ["GET"], "Every budget object"),
    ]
