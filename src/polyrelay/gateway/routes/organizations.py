"""Organizations over teams (LiteLLM's /organization/new|info|update|delete|list
and /organization/member_add).

An organization has models, a budget (``max_budget`` over
``budget_duration``) and rate limits; teams join it with
``organization_id`` on /team/new or /team/update. Every call made with a
key of one of its teams counts against the organization's budget and
limits, so the organization caps its teams' spend together. A team may use
only models the organization has (when it lists any).

Who may do what: the master key does everything. A key whose user is an
admin of the organization (``role: org_admin`` in /organization/member_add)
may read the organization, add its members, and create and manage teams
inside it — never another organization, never the organization itself.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ...errors import BadRequestError, NotFoundError, PermissionDeniedError
from .. import schema
from ..key_fields import budget_window
from ..http import context, parse_json_object
from .budgets import checked_fields
from .responses import json_response

RULES: dict[str, schema.Rule] = {
    "organization_id": schema.identifier, "organization_alias": schema.identifier,
    "max_budget": schema.number(0), "budget_duration": schema.identifier, "rpm_limit": schema.integer(0),
    "tpm_limit": schema.integer(0), "metadata": schema.freeform, "blocked": schema.typed(bool, "true or false"),
    "models": lambda v: None if isinstance(v, list) and all(isinstance(m, str) and schema.identifier(m) is None
                                                             for m in v) else "an array of model group names",
}
ROLES = {"org_admin": "admin", "internal_user": "user", "internal_user_viewer": "user", "user": "user",
         "admin": "admin"}


def is_org_admin(principal, org: dict[str, Any] | None) -> bool:
    return (principal is not None and org is not None and principal.user_id is not None
            and principal.user_id in (org.get("admins") or []))


def make_organization_routes(run, records, forget, require_admin) -> list[tuple[str, Any, list[str], str]]:
    async def org_of(ident: Any, param: str = "organization_id") -> dict[str, Any]:
        if not isinstance(ident, str) or not ident:
            raise BadRequestError(f"{param} is required", param=param)
        org = await run(records().get, "organization", ident)
        if org is None:
            raise NotFoundError(f"No such organization: {ident[:64]!r}", param=param)
        return org

    async def with_spend(org: dict[str, Any]) -> dict[str, Any]:
        """The organization's spend: what its teams' calls cost in the current
        budget window (the one its budget is checked against), or over all time."""
        ident = org["organization_id"]
        start, end = budget_window(org.get("budget_duration"))
        since = datetime.fromtimestamp(start, timezone.utc) if start is not None else None
        spend = await run(lambda: records().scope_spend(records().team_ids(ident), None, since))
        # Windows are aligned to the epoch (as for budget objects): the next reset is this window's end.
        return {**org, "spend": spend, "budget_reset_at": datetime.fromtimestamp(end, timezone.utc) if end else None}

    async def new(request: Request) -> Response:
        require_admin(request)
        fields = checked_fields(parse_json_object(await request.body()), request.url.path, RULES)
        fields.setdefault("organization_id", str(uuid.uuid4()))
        if not fields.get("organization_alias"):
            raise BadRequestError("organization_alias is required", param="organization_alias")
        if await run(records().get, "organization", fields["organization_id"]) is not None:
            raise BadRequestError(f"organization {fields['organization_id']!r} already exists",
                                  param="organization_id", code="already_exists")
        return json_response(await run(records().create, "organization", fields))

    async def info(request: Request) -> Response:
        """GET ?organization_id= answers one organization; POST {"organizations": [ids]}
        (LiteLLM's older form) answers a list."""
        principal = context(request.scope).principal
        idents: Any = [request.query_params.get("organization_id")]
        if request.method == "POST":
            data = parse_json_object(await request.body())
            idents = data.get("organizations")
            if set(data) - {"organizations"} or not isinstance(idents, list) or not idents:
                raise BadRequestError("pass {\"organizations\": [<organization_id>, ...]}", param="organizations")
        found = []
        for ident in idents:
            org = await org_of(ident, "organizations" if request.method == "POST" else "organization_id")
            if principal is not None and not principal.is_admin and not is_org_admin(principal, org):
                raise PermissionDeniedError("Only the admin (master key) or an admin of this organization may "
                                            "read it.", code="not_org_admin")
            teams = await run(lambda: records().list("team", size=10_000, organization_id=org["organization_id"]))
            found.append({**await with_spend(org), "teams": teams})
        return json_response(found if request.method == "POST" else found[0])

    async def update(request: Request) -> Response:
        require_admin(request)
        fields = checked_fields(parse_json_object(await request.body()), request.url.path, RULES)
        org = await org_of(fields.pop("organization_id", None))
        row = await run(records().update, "organization", org["organization_id"], fields)
        forget()  # keys are cached with their organization
        return json_response(row)

    async def delete(request: Request) -> Response:
        require_admin(request)
        data = parse_json_object(await request.body())
        idents = data.get("organization_ids")
        if set(data) - {"organization_ids"} or not isinstance(idents, list) or not all(
                isinstance(i, str) for i in idents):
            raise BadRequestError("organization_ids must be a list of organization ids", param="organization_ids")
        for ident in idents:
            await org_of(ident, "organization_ids")
            teams = await run(lambda i=ident: records().count("team", organization_id=i))
            if teams:
                raise BadRequestError(f"organization {ident!r} still has {teams} team(s); move or delete them first",
                                      param="organization_ids", code="organization_in_use")
        deleted = await run(records().delete, "organization", idents)
        forget()
        return json_response({"deleted": deleted, "organization_ids": idents})

    async def list_all(request: Request) -> Response:
        require_admin(request)
        rows = await run(lambda: records().list("organization", size=10_000))
        return json_response([await with_spend(row) for row in rows])

    async def member_add(request: Request) -> Response:
        """Members as LiteLLM takes them: one ``{user_id, role}`` or a list;
        role ``org_admin`` makes the user an admin of the organization."""
        data = parse_json_object(await request.body())
        if set(data) - {"organization_id", "member"}:
            name = sorted(set(data) - {"organization_id", "member"})[0]
            raise BadRequestError(f"Unknown field {name[:64]!r} for {request.url.path}", param=name[:64],
                                  code="unsupported_field")
        org = await org_of(data.get("organization_id"))
        principal = context(request.scope).principal
        if principal is not None and not principal.is_admin and not is_org_admin(principal, org):
            raise PermissionDeniedError("Only the admin (master key) or an admin of this organization may add "
                                        "its members.", code="not_org_admin")
        items = data.get("member")
        items = items if isinstance(items, list) else [items]
        members, admins = list(org.get("members") or []), list(org.get("admins") or [])
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("user_id"), str) or \
                    item.get("role", "internal_user") not in ROLES or set(item) - {"user_id", "role"}:
                raise BadRequestError("member takes user_id and role (org_admin, internal_user) only",
                                      param="member", code="invalid_value")
            user_id = item["user_id"]
            if schema.identifier(user_id) is not None:
                raise schema.invalid("member", "a user id", user_id)
            if await run(records().get, "user", user_id) is None:
                await run(records().create, "user", {"user_id": user_id})
            members += [user_id] if user_id not in members else []
            if ROLES[item.get("role", "internal_user")] == "admin" and user_id not in admins:
                admins.append(user_id)
        row = await run(records().update, "organization", org["organization_id"],
                        {"members": members, "admins": admins})
        forget()
        return json_response(row)

    return [
        ("/organization/new", new, ["POST"], "Create an organization (models, budget, limits over its teams)"),
        ("/organization/info", info, ["GET", "POST"], "An organization, its teams and its spend"),
        ("/organization/update", update, ["PATCH", "POST"], "Change an organization"),
        ("/organization/delete", delete, ["DELETE", "POST"], "Delete organizations that have no teams"),
        ("/organization/list", list_all, ["GET"], "Every organization"),
        ("/organization/member_add", member_add, ["POST"], "Add users to an organization (org_admin: its admin)"),
    ]
