"""Team membership, blocking and listing, and the user list (LiteLLM's
/team/member_add, /team/member_delete, /team/block, /team/unblock,
/team/list, /user/list). Only the master key calls them.

Members are kept on the team record as user ids; a member that does not
exist yet is created, as LiteLLM does. Members with role ``admin`` are also
listed in ``admins``: keys owned by a team admin (``user_id``) may add and
remove that team's members and issue keys for it — and nothing else.

Per-member budgets (``max_budget_in_team`` on /team/member_add and
/team/member_update) cap what one member's keys spend inside the team; they
are kept on the team record (``member_budgets``) and enforced on every call
with the team's other budgets (gateway/keys.py ``scope_subjects``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ...errors import BadRequestError, NotFoundError
from .. import schema
from ..http import parse_json_object
from .responses import json_response

MEMBER_FIELDS = frozenset({"team_id", "member", "max_budget_in_team"})
MEMBER_UPDATE_FIELDS = frozenset({"team_id", "user_id", "role", "max_budget_in_team"})
MEMBER_ROLES = frozenset({"user", "admin"})


def _only(data: dict[str, Any], accepted: frozenset[str], path: str) -> None:
    for name in data:
        if name not in accepted:
            raise BadRequestError(f"Unknown field {str(name)[:64]!r} for {path}: polyrelay does not support it.",
                                  param=str(name)[:64], code="unsupported_field")


def _member_ids(data: dict[str, Any]) -> tuple[list[str], list[str]]:
    """``member`` as LiteLLM takes it: one {"user_id", "role"} object or a list of them
    (``user_email`` alone is refused: users are named by id here)."""
    given = data.get("member")
    items = given if isinstance(given, list) else [given]
    ids = []
    for item in items:
        if not isinstance(item, dict) or schema.identifier(item.get("user_id")) is not None:
            raise BadRequestError("member must be {\"user_id\": ..., \"role\": \"user\"} or a list of them",
                                  param="member", code="invalid_value")
        if item.get("role", "user") not in MEMBER_ROLES or set(item) - {"user_id", "role"}:
            raise BadRequestError("member takes user_id and role (user or admin) only", param="member",
                                  code="invalid_value")
        ids.append(item["user_id"])
    return ids, [item["user_id"] for item in items if item.get("role") == "admin"]


def _member_budget(data: dict[str, Any]) -> float | None:
    value = data.get("max_budget_in_team")
    if value is not None and (what := schema.number(0)(value)) is not None:
        raise schema.invalid("max_budget_in_team", what, value)
    return None if value is None else float(value)


def make_team_routes(run, records, forget, require_admin, paging,
                     require_team_admin) -> list[tuple[str, Any, list[str], str]]:
    async def team_of(data: dict[str, Any]) -> dict[str, Any]:
        team_id = data.get("team_id")
        if not isinstance(team_id, str):
            raise BadRequestError("team_id is required", param="team_id")
        team = await run(records().get, "team", team_id)
        if team is None:
            raise NotFoundError(f"No such team: {team_id!r}", param="team_id")
        return team

    async def member_add(request: Request) -> Response:
        data = parse_json_object(await request.body())
        _only(data, MEMBER_FIELDS, request.url.path)
        await require_team_admin(request, data.get("team_id"))
        team = await team_of(data)
        ids, admins = _member_ids(data)
        budget = _member_budget(data)
        for user_id in ids:
            if await run(records().get, "user", user_id) is None:
                await run(records().create, "user", {"user_id": user_id})
        members = list(team.get("members") or [])
        members += [u for u in ids if u not in members]
        admin_ids = list(team.get("admins") or [])
        admin_ids += [u for u in admins if u not in admin_ids]
        changes: dict[str, Any] = {"members": members, "admins": admin_ids}
        if budget is not None:
            changes["member_budgets"] = {**(team.get("member_budgets") or {}), **{u: budget for u in ids}}
        row = await run(records().update, "team", team["team_id"], changes)
        forget()
        return json_response(row)

    async def member_update(request: Request) -> Response:
        """A member's role or budget inside the team (LiteLLM's /team/member_update);
        ``max_budget_in_team: null`` removes the member's budget."""
        data = parse_json_object(await request.body())
        _only(data, MEMBER_UPDATE_FIELDS, request.url.path)
        await require_team_admin(request, data.get("team_id"))
        team = await team_of(data)
        user_id = data.get("user_id")
        if user_id not in (team.get("members") or []):
            raise NotFoundError(f"{str(user_id)[:64]!r} is not a member of team {team['team_id']!r}", param="user_id")
        changes: dict[str, Any] = {}
        if "max_budget_in_team" in data:
            budgets = dict(team.get("member_budgets") or {})
            budget = _member_budget(data)
            if budget is None:
                budgets.pop(user_id, None)
            else:
                budgets[user_id] = budget
            changes["member_budgets"] = budgets
        if "role" in data:
            if data["role"] not in MEMBER_ROLES:
                raise BadRequestError("role must be user or admin", param="role", code="invalid_value")
            admins = [a for a in team.get("admins") or [] if a != user_id]
            changes["admins"] = admins + [user_id] if data["role"] == "admin" else admins
        row = await run(records().update, "team", team["team_id"], changes)
        forget()
        return json_response(row)

    async def member_delete(request: Request) -> Response:
        data = parse_json_object(await request.body())
        _only(data, frozenset({"team_id", "user_id"}), request.url.path)
        await require_team_admin(request, data.get("team_id"))
        team = await team_of(data)
        user_id = data.get("user_id")
        members = list(team.get("members") or [])
        if user_id not in members:
            raise NotFoundError(f"{user_id!r} is not a member of team {team['team_id']!r}", param="user_id")
        row = await run(records().update, "team", team["team_id"], {
            "members": [m for m in members if m != user_id],
            "admins": [m for m in team.get("admins") or [] if m != user_id],
            "member_budgets": {u: b for u, b in (team.get("member_budgets") or {}).items() if u != user_id}})
        forget()
        return json_response(row)

    async def set_blocked(request: Request, blocked: bool) -> Response:
        require_admin(request)
        data = parse_json_object(await request.body())
        _only(data, frozenset({"team_id"}), request.url.path)
        team = await team_of(data)
        row = await run(records().update, "team", team["team_id"], {"blocked": blocked})
        forget()  # the team's keys are cached with the team record
        return json_response(row)

    async def block(request: Request) -> Response:
        return await set_blocked(request, True)

    async def unblock(request: Request) -> Response:
        return await set_blocked(request, False)

    async def list_teams(request: Request) -> Response:
        require_admin(request)
        page, size = paging(request)
        user_id = request.query_params.get("user_id")
        if user_id:  # members are a JSON list: filtered here, over every team (teams are few)
            rows = await run(lambda: records().list("team", size=100_000))
            rows = [r for r in rows if user_id in (r.get("members") or [])][(page - 1) * size:page * size]
        else:
            rows = await run(lambda: records().list("team", page=page, size=size))
        return json_response(rows)

    async def list_users(request: Request) -> Response:
        require_admin(request)
        page, size = paging(request)
        role = request.query_params.get("role")
        rows, total = await run(lambda: (records().list("user", page=page, size=size, user_role=role),
                                         records().count("user", user_role=role)))
        return json_response({"users": rows, "total": total, "page": page, "page_size": size,
                              "total_pages": -(-total // size)})

    return [
        ("/team/member_add", member_add, ["POST"], "Add users to a team (created if new)"),
        ("/team/member_delete", member_delete, ["POST"], "Remove a user from a team"),
        ("/team/member_update", member_update, ["POST"], "A member's role or max_budget_in_team"),
        ("/team/block", block, ["POST"], "Refuse every call by the team's keys"),
        ("/team/unblock", unblock, ["POST"], "Let a blocked team's keys call again"),
        ("/team/list", list_teams, ["GET"], "Teams (filter: user_id, a member)"),
        ("/user/list", list_users, ["GET"], "Users in pages (filter: role)"),
    ]
