"""LiteLLM's management API: virtual keys, users, teams and end users
(customers); spend reports are in spend.py.

Only the admin (the master key) manages, but for team and organization
admins inside their own team or organization (teams.py, organizations.py);
a virtual key may read its own ``/key/info`` and its own spend logs. Request bodies are checked field by
field against LiteLLM's names and types, and a wrong one is a 400 that says
which. Plain keys appear once, in the answer to the call that made them.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sqlalchemy import exc as sa_exc

from ...errors import BadRequestError, NotFoundError, PermissionDeniedError, ServiceUnavailableError
from ...store.records import hash_key, parse_duration
from ...guardrails import stage as guardrail_stage
from .. import key_fields, schema
from ..http import context, parse_json_object
from ..store_health import describe_db_error
from .responses import json_response
from .budgets import make_budget_routes
from .model_admin import make_model_admin_routes
from .organizations import is_org_admin, make_organization_routes
from .spend import make_spend_routes
from .teams import make_team_routes

_NUMBER = (int, float)
MAX_PAGE = 1_000_000
# Field -> accepted types, shared by keys, users, teams and customers.
_FIELDS: dict[str, tuple[type, ...]] = {
    "models": (list,), "max_budget": _NUMBER, "budget_duration": (str,), "rpm_limit": (int,), "tpm_limit": (int,),
    "max_parallel_requests": (int,), "metadata": (dict,), "team_id": (str,), "user_id": (str,), "key_alias": (str,),
    "duration": (str,), "blocked": (bool,), "user_email": (str,), "user_role": (str,), "team_alias": (str,),
    "members": (list,), "alias": (str,), "budget_id": (str,), "spend": _NUMBER, "key": (str,), "expires": (str,),
    "organization_id": (str,),
}
_KINDS_FIELDS = {
    "key": ("models", "max_budget", "budget_duration", "rpm_limit", "tpm_limit", "max_parallel_requests", "metadata",
            "team_id", "user_id", "key_alias", "blocked", "spend"),
    "user": ("user_id", "user_email", "user_role", "models", "max_budget", "budget_duration", "rpm_limit",
             "tpm_limit", "metadata", "blocked", "spend"),
    "team": ("team_id", "team_alias", "members", "admins", "models", "max_budget", "budget_duration", "rpm_limit", "tpm_limit",
             "metadata", "blocked", "spend", "organization_id"),
    "customer": ("user_id", "alias", "max_budget", "budget_duration", "metadata", "blocked", "spend", "budget_id"),
}


# Values stored and used as state keys: bounded, so each can always be stored and read back.
_VALUE_RULES: dict[str, schema.Rule] = {
    **{name: schema.identifier for name in ("team_id", "user_id", "key_alias", "user_email", "user_role",
                                            "team_alias", "alias", "budget_duration", "duration", "organization_id")},
    "metadata": schema.freeform, "max_budget": schema.number(0), "spend": schema.number(0),
    **{name: schema.integer(0) for name in ("rpm_limit", "tpm_limit", "max_parallel_requests")},
    "models": lambda v: None if all(isinstance(m, str) and schema.identifier(m) is None for m in v)
    else "an array of model group names",
}


# Every field a management route accepts: anything else is a 400 naming it, never silently dropped.
_KEY_WRITE = frozenset(_KINDS_FIELDS["key"]) | set(key_fields.FIELDS) | set(key_fields.REFUSED) | {
    "key", "duration", "expires", "guardrails"}
_ACCEPTED = {
    "key_write": _KEY_WRITE,
    "key_delete": frozenset({"keys", "key_aliases"}),
    "key_one": frozenset({"key"}),
    "user": frozenset(_KINDS_FIELDS["user"]),
    "team": frozenset(_KINDS_FIELDS["team"]) | {"members_with_roles", "guardrails"},
    "customer": frozenset(_KINDS_FIELDS["customer"]) | {"end_user_id"},
    "user_delete": frozenset({"user_ids"}), "team_delete": frozenset({"team_ids"}),
    "customer_delete": frozenset({"user_ids"}),
}


async def _body(request: Request, accepted: str) -> dict[str, Any]:
    data = parse_json_object(await request.body())
    for name in data:
        if name not in _ACCEPTED[accepted]:
            raise BadRequestError(f"Unknown field {str(name)[:64]!r} for {request.url.path}: polyrelay does not "
                                  "support it (it is refused rather than silently ignored).", param=str(name)[:64],
                                  code="unsupported_field")
    for name, value in data.items():
        expected = _FIELDS.get(name)
        if expected and value is not None and (not isinstance(value, expected) or isinstance(value, bool) and
                                               bool not in expected):
            kinds = " or ".join(t.__name__ for t in expected)
            raise BadRequestError(f"{name} must be a {kinds}, got {type(value).__name__}", param=name)
        rule = _VALUE_RULES.get(name)
        if rule is not None and value is not None and (what := rule(value)) is not None:
            raise schema.invalid(name, what, value)
    if data.get("budget_duration"):
        try:
            parse_duration(data["budget_duration"])
        except ValueError as exc:
            raise BadRequestError(str(exc), param="budget_duration") from None
    return data


def _fields(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    members = data.get("members_with_roles")
    if kind == "team" and members and "members" not in data:
        data = {**data, "members": [m.get("user_id") for m in members if isinstance(m, dict)],
                "admins": [m.get("user_id") for m in members if isinstance(m, dict) and m.get("role") == "admin"]}
    return {k: data[k] for k in _KINDS_FIELDS[kind] if k in data}


def _require_admin(request: Request) -> None:
    principal = context(request.scope).principal
    if principal is not None and not principal.is_admin:
        raise PermissionDeniedError("Only the admin (master key) may call this endpoint.", code="admin_only")


def _expiry(data: dict[str, Any]) -> datetime | None:
    if data.get("duration"):
        try:
            return datetime.now(timezone.utc) + parse_duration(data["duration"])
        except ValueError as exc:
            raise BadRequestError(str(exc).replace("budget_duration", "duration"), param="duration") from None
    if data.get("expires"):
        try:
            value = datetime.fromisoformat(data["expires"])
        except ValueError:
            raise BadRequestError("expires must be an ISO 8601 date-time", param="expires") from None
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return None


def _key_view(row: dict[str, Any]) -> dict[str, Any]:
    """A key record as LiteLLM shows it: the hash as ``token``, never a plain key."""
    view = {k: v for k, v in row.items() if k != "token_hash"}
    view["token"] = row["token_hash"]
    return view


def _token_hash(value: str) -> str:
    """Keys are named by their plain value or by their hash."""
    return value if len(value) == 64 and all(c in "0123456789abcdef" for c in value) else hash_key(value)


def make_management_routes(gateway) -> list[tuple[str, Any, list[str], str]]:
    """The routes, bound to the gateway."""
    shared = AdminRecords(gateway)
    table = KeyRoutes(shared).table()
    for kind, id_field, id_param, plural in (("user", "user_id", "user_id", "user_ids"),
                                             ("team", "team_id", "team_id", "team_ids"),
                                             ("customer", "user_id", "end_user_id", "user_ids")):
        table += RecordRoutes(shared, kind, id_field, id_param, plural).table()
    run, records, forget = shared.run, shared.records, shared.forget
    table += make_spend_routes(run, records, _require_admin, _paging, _token_hash)
    table += make_team_routes(run, records, forget, _require_admin, _paging, shared.require_team_admin)
    table += make_budget_routes(run, records, forget, _require_admin)
    table += make_model_admin_routes(gateway, run, _require_admin)
    table += make_organization_routes(run, records, forget, _require_admin)
    return table


class AdminRecords:
    """What the management routes share: the gateway's records (its database opens at
    start-up, after the routes are built, so they are looked up when called), database
    errors as answers, and the checks of who may change what."""

    def __init__(self, gateway) -> None:
        self.gateway = gateway

    def records(self):
        return self.gateway.accounting.keys.records

    def forget(self, token_hash: str | None = None) -> None:
        self.gateway.accounting.keys.forget(token_hash)

    async def run(self, fn, *args):
        try:
            return await self.gateway.db.run(fn, *args)
        except (sa_exc.DataError, OverflowError) as exc:  # a number past what a column holds, and the like
            raise BadRequestError(f"A value does not fit the database: {describe_db_error(exc)}",
                                  code="invalid_value") from None
        except sa_exc.IntegrityError:
            raise BadRequestError("That record already exists (or names one that does not).",
                                  code="already_exists") from None
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError) as exc:
            # Locked, read-only, unreachable: say so (503), rather than a 500 that reads like a bug.
            if self.gateway.store_health is not None:
                self.gateway.store_health.db_failed(exc)
            raise ServiceUnavailableError(f"The database cannot be used right now ({describe_db_error(exc)}); "
                                          "retry later.", code="database_unavailable",
                                          headers={"retry-after": "5"}) from None

    async def require_team_admin(self, request: Request, team_id: Any) -> None:
        principal = context(request.scope).principal
        if principal is None or principal.is_admin:
            return
        team = await self.run(self.records().get, "team", team_id) if isinstance(team_id, str) else None
        if team is not None and principal.user_id is not None and principal.user_id in (team.get("admins") or []):
            return
        if team is not None and team.get("organization_id") and is_org_admin(
                principal, await self.run(self.records().get, "organization", team["organization_id"])):
            return  # an organization's admin manages the teams inside it
        raise PermissionDeniedError("Only the admin (master key), or an admin of the team named in team_id (or of "
                                    "its organization), may call this endpoint.", code="not_team_admin")

    async def team_in_organization(self, request: Request, data: dict[str, Any], team: dict[str, Any] | None) -> None:
        """/team/new and /team/update: the master key, or an admin of the team's organization
        (both the one it is in and the one it moves to). The organization must exist, and a
        team takes only models its organization has."""
        current = (team or {}).get("organization_id")
        org_id = data["organization_id"] if "organization_id" in data else current  # null: out of any
        org = await self.run(self.records().get, "organization", org_id) if org_id else None
        if org_id and org is None:
            raise NotFoundError(f"No such organization: {org_id!r}; create it with /organization/new",
                                param="organization_id")
        principal = context(request.scope).principal
        if principal is not None and not principal.is_admin:
            if not is_org_admin(principal, org) or (current and current != org_id and not is_org_admin(
                    principal, await self.run(self.records().get, "organization", current))):
                raise PermissionDeniedError("Only the admin (master key), or an admin of the team's organization, "
                                            "may create or change this team.", code="not_org_admin")
        allowed = (org or {}).get("models")
        models = data.get("models") if "models" in data else (team or {}).get("models")
        if allowed and "all-proxy-models" not in allowed:
            outside = sorted(set(models or []) - set(allowed) - {"all-proxy-models"})  # none: the org's apply
            if outside:
                raise BadRequestError(f"models: {outside[0]!r} is not one of organization {org_id!r}'s models "
                                      f"({', '.join(allowed)})", param="models", code="invalid_value")

    async def budget_exists(self, budget_id: str | None) -> None:
        if budget_id and await self.run(self.records().get, "budget", budget_id) is None:
            raise NotFoundError(f"No such budget: {budget_id!r}; create it with /budget/new", param="budget_id")

    async def unique_alias(self, alias: str | None, token_hash: str | None) -> None:
        """key_alias names one key: a second key with the same alias is refused."""
        if alias:
            holders = await self.run(lambda: self.records().list("key", size=2, key_alias=alias))
            if any(row["token_hash"] != token_hash for row in holders):
                raise BadRequestError(f"key_alias {alias!r} is already used by another key", param="key_alias",
                                      code="already_exists")


class KeyRoutes:
    """/key/*: virtual keys."""

    def __init__(self, shared: AdminRecords) -> None:
        self.shared = shared

    def table(self) -> list[tuple[str, Any, list[str], str]]:
        return [
            ("/key/generate", self.generate, ["POST"], "Create a virtual key (the plain key is shown once)"),
            ("/key/update", self.update, ["POST"], "Change a key's models, budget or limits"),
            ("/key/delete", self.delete, ["POST"], "Delete keys"),
            ("/key/regenerate", self.regenerate, ["POST"], "A new secret for a key (spend and limits carry over)"),
            ("/key/{key}/regenerate", self.regenerate, ["POST"], "Same, with the key in the path"),
            ("/key/info", self.info, ["GET"], "A key's spend, budget, models and limits"),
            ("/key/list", self.list_keys, ["GET"], "Keys, filtered by user_id, team_id or key_alias, in pages (admin)"),
            ("/key/block", self.block, ["POST"], "Refuse every call made with a key until it is unblocked"),
            ("/key/unblock", self.unblock, ["POST"], "Let a blocked key call again"),
        ]

    async def generate(self, request: Request) -> Response:
        shared = self.shared
        records = shared.records()
        data = await _body(request, "key_write")
        # A team admin's key may issue keys for its own team (with the team's limits over them).
        await shared.require_team_admin(request, data.get("team_id"))
        fields = {**_fields("key", data), **key_fields.check(data)}
        fields["expires"] = _expiry(data)
        await guardrail_stage.keep_in_metadata(shared.gateway, data, fields)
        team_id, user_id = fields.get("team_id"), fields.get("user_id")
        if team_id and await shared.run(records.get, "team", team_id) is None:
            raise NotFoundError(f"team {team_id!r} does not exist; create it first", param="team_id")
        if user_id and await shared.run(records.get, "user", user_id) is None:
            # LiteLLM issues keys for user ids it has no row for (scripts make a key per end
            # user); the user is made here, as /team/member_add does, so its budget and spend work.
            await shared.run(records.create, "user", {"user_id": user_id})
        await shared.unique_alias(fields.get("key_alias"), None)
        plain, row = await shared.run(records.create_key, fields, data.get("key"))
        return json_response({**_key_view(row), "key": plain})

    async def update(self, request: Request) -> Response:
        shared = self.shared
        _require_admin(request)
        data = await _body(request, "key_write")
        token_hash = _token_hash(str(data.get("key") or ""))
        fields = {**_fields("key", data), **key_fields.check(data)}
        if "duration" in data or "expires" in data:
            fields["expires"] = _expiry(data)
        await guardrail_stage.keep_in_metadata(shared.gateway, data, fields,
                                               lambda: shared.run(shared.records().get, "key", token_hash))
        await shared.unique_alias(fields.get("key_alias"), token_hash)
        row = await shared.run(shared.records().update, "key", token_hash, fields)
        if row is None:
            raise NotFoundError("No such key.", param="key")
        shared.forget(token_hash)
        return json_response(_key_view(row))

    async def delete(self, request: Request) -> Response:
        shared = self.shared
        _require_admin(request)
        data = await _body(request, "key_delete")
        by_alias = "keys" not in data and "key_aliases" in data
        given = data.get("keys") or data.get("key_aliases") or []
        if not isinstance(given, list) or not all(isinstance(k, str) for k in given):
            raise BadRequestError("keys must be a list of keys", param="keys")
        if by_alias:
            found = [await shared.run(lambda a=alias: shared.records().list("key", size=1, key_alias=a))
                     for alias in given]
            hashes = [rows[0]["token_hash"] for rows in found if rows]
        else:
            hashes = [_token_hash(k) for k in given]
        deleted = await shared.run(shared.records().delete, "key", hashes)
        for token_hash in hashes:
            shared.forget(token_hash)
        return json_response({"deleted_keys": given, "deleted": deleted})

    async def regenerate(self, request: Request) -> Response:
        shared = self.shared
        _require_admin(request)
        data = await _body(request, "key_one") if await request.body() else {}
        token_hash = _token_hash(str(request.path_params.get("key") or data.get("key") or ""))
        found = await shared.run(shared.records().regenerate_key, token_hash)
        if found is None:
            raise NotFoundError("No such key.", param="key")
        plain, row = found
        shared.forget(token_hash)
        return json_response({**_key_view(row), "key": plain})

    async def info(self, request: Request) -> Response:
        principal = context(request.scope).principal
        asked = request.query_params.get("key")
        if asked is None:
            if principal is None or principal.key_hash is None:
                raise BadRequestError("Pass ?key=<key> (the admin has no key record of its own).", param="key")
            token_hash = principal.key_hash
        else:
            token_hash = _token_hash(asked)
        if principal is not None and not principal.is_admin and principal.key_hash != token_hash:
            raise PermissionDeniedError("A key may only read its own info.", code="not_your_key")
        row = await self.shared.run(self.shared.records().get, "key", token_hash)
        if row is None:
            raise NotFoundError("No such key.", param="key")
        return json_response({"key": asked or token_hash, "info": _key_view(row)})

    async def _set_blocked(self, request: Request, blocked: bool) -> Response:
        shared = self.shared
        _require_admin(request)
        data = await _body(request, "key_one")
        token_hash = _token_hash(str(data.get("key") or ""))
        row = await shared.run(shared.records().update, "key", token_hash, {"blocked": blocked})
        if row is None:
            raise NotFoundError("No such key.", param="key")
        shared.forget(token_hash)
        return json_response(_key_view(row))

    async def block(self, request: Request) -> Response:
        return await self._set_blocked(request, True)

    async def unblock(self, request: Request) -> Response:
        return await self._set_blocked(request, False)

    async def list_keys(self, request: Request) -> Response:
        _require_admin(request)
        query = request.query_params
        unknown = set(query) - {"page", "page_size", "size", "user_id", "team_id", "key_alias", "key_hash",
                                "return_full_object"}
        if unknown:
            name = sorted(unknown)[0]
            raise BadRequestError(f"Unknown filter {name[:64]!r} for /key/list", param=name[:64],
                                  code="unsupported_field")
        page, size = _paging(request)
        filters = {"user_id": query.get("user_id"), "team_id": query.get("team_id"),
                   "key_alias": query.get("key_alias"),
                   "token_hash": _token_hash(query["key_hash"]) if query.get("key_hash") else None}
        records = self.shared.records
        rows, total = await self.shared.run(lambda: (records().list("key", page=page, size=size, **filters),
                                                     records().count("key", **filters)))
        full = (query.get("return_full_object") or "").lower() in ("1", "true", "yes")
        return json_response({"keys": [_key_view(r) if full else r["token_hash"] for r in rows],
                              "total_count": total, "current_page": page, "page_size": size,
                              "total_pages": -(-total // size)})


class RecordRoutes:
    """/user/*, /team/*, /customer/*: new, info, update, delete of one kind of record."""

    def __init__(self, shared: AdminRecords, kind: str, id_field: str, id_param: str, plural: str) -> None:
        self.shared, self.kind = shared, kind
        self.id_field, self.id_param, self.plural = id_field, id_param, plural

    def table(self) -> list[tuple[str, Any, list[str], str]]:
        kind = self.kind
        return [(f"/{kind}/new", self.create, ["POST"], f"Create a {kind}"),
                (f"/{kind}/info", self.info, ["GET"], f"A {kind} and its spend"),
                (f"/{kind}/update", self.change, ["POST"], f"Change a {kind}"),
                (f"/{kind}/delete", self.remove, ["POST"], f"Delete {kind}s")]

    async def create(self, request: Request) -> Response:
        shared, kind, id_field = self.shared, self.kind, self.id_field
        records = shared.records()
        if kind != "team":  # a team may also be made by its organization's admin
            _require_admin(request)
        data = await _body(request, kind)
        if kind == "team":
            await shared.team_in_organization(request, data, None)
        fields = _fields(kind, data)
        if kind == "team":
            await guardrail_stage.keep_in_metadata(shared.gateway, data, fields)
        await shared.budget_exists(data.get("budget_id"))
        fields.setdefault(id_field if kind != "customer" else "user_id", data.get(self.id_param) or str(uuid.uuid4()))
        ident = fields.get(id_field if kind != "customer" else "user_id")
        if await shared.run(records.get, kind, ident) is not None:
            raise BadRequestError(f"{kind} {ident!r} already exists", param=self.id_param, code="already_exists")
        row = await shared.run(records.create, kind, fields)
        answer = dict(row)
        if kind == "user":  # LiteLLM's /user/new also issues the user a key
            plain, key_row = await shared.run(records.create_key, {"user_id": row["user_id"],
                                                                  "models": fields.get("models")})
            answer.update(key=plain, token=key_row["token_hash"])
        return json_response(answer)

    async def info(self, request: Request) -> Response:
        shared, kind, id_field, id_param = self.shared, self.kind, self.id_field, self.id_param
        ident = request.query_params.get(id_param) or request.query_params.get(id_field)
        principal = context(request.scope).principal
        own = principal is not None and kind in ("user", "team") and ident == getattr(principal, id_field, None)
        if not own:
            _require_admin(request)
        if not ident:
            raise BadRequestError(f"Pass ?{id_param}=...", param=id_param)
        row = await shared.run(shared.records().get, kind, ident)
        if row is None:
            raise NotFoundError(f"No such {kind}: {ident!r}", param=id_param)
        answer: dict[str, Any] = {id_param: ident, f"{kind}_info": row}
        if kind in ("user", "team"):
            owned = await shared.run(lambda: shared.records().list("key", **{id_field: ident}))
            answer["keys"] = [_key_view(k) for k in owned]
        return json_response(answer)

    async def change(self, request: Request) -> Response:
        shared, kind, id_param = self.shared, self.kind, self.id_param
        if kind != "team":
            _require_admin(request)
        data = await _body(request, kind)
        ident = data.get(id_param) or data.get(self.id_field)
        if not isinstance(ident, str):
            raise BadRequestError(f"{id_param} is required", param=id_param)
        if kind == "team":
            current = await shared.run(shared.records().get, "team", ident)
            if current is None:
                _require_admin(request)
                raise NotFoundError(f"No such team: {ident!r}", param=id_param)
            await shared.team_in_organization(request, data, current)
        fields = _fields(kind, data)
        if kind == "team":
            await guardrail_stage.keep_in_metadata(shared.gateway, data, fields,
                                                   lambda: shared.run(shared.records().get, kind, ident))
        await shared.budget_exists(data.get("budget_id"))
        row = await shared.run(shared.records().update, kind, ident, fields)
        if row is None:
            raise NotFoundError(f"No such {kind}: {ident!r}", param=id_param)
        shared.forget()
        return json_response(row)

    async def remove(self, request: Request) -> Response:
        shared, plural = self.shared, self.plural
        _require_admin(request)
        data = await _body(request, f"{self.kind}_delete")
        idents = data.get(plural)
        if not isinstance(idents, list) or not all(isinstance(i, str) for i in idents):
            raise BadRequestError(f"{plural} must be a list of ids", param=plural)
        deleted = await shared.run(shared.records().delete, self.kind, idents)
        shared.forget()
        return json_response({"deleted": deleted, plural: idents})


def _paging(request: Request) -> tuple[int, int]:
    try:
        page = int(request.query_params.get("page", 1))
        size = min(int(request.query_params.get("page_size", request.query_params.get("size", 100))), 1000)
    except ValueError:
        raise BadRequestError("page and page_size must be whole numbers", param="page") from None
    if page > MAX_PAGE:
        raise BadRequestError(f"page must be at most {MAX_PAGE}", param="page", code="invalid_value")
    return max(page, 1), max(size, 1)
