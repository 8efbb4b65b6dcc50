"""The UI's pages: each reads through the store (Records, queries.py) and
changes things through the management API's handlers (actions.py)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..store.records import hash_key
from . import queries
from .actions import ActionError, Management
from .auth import LOGIN_COOKIE, Session
from .charts import bar_chart
from .web import UI, forbidden, same_origin

PAGE_SIZE = 50
KINDS = {  # the people pages: kind -> (table id column, management path prefix, spend column, title)
    "users": ("user", "user_id", "/user", "user_id", "Users"),
    "teams": ("team", "team_id", "/team", "team_id", "Teams"),
    "customers": ("customer", "user_id", "/customer", "end_user", "End users"),
}


class Pages:
    def __init__(self, ui: UI) -> None:
        self.ui = ui
        self.gateway = ui.gateway
        self.manage = Management(ui.gateway)

    @property
    def db(self):
        return self.gateway.db

    def records(self):
        return self.gateway.accounting.keys.records

    async def run(self, fn, *args):
        return await self.db.run(fn, *args)

    # -- sign in / out --------------------------------------------------------------------------

    async def login_form(self, request: Request, error: str | None = None, status: int = 200) -> Response:
        if self.ui.session(request) is not None and error is None:
            return self.ui.redirect(request, "/ui")
        token = secrets.token_urlsafe(24)
        response = self.ui.render(request, "login.html", status=status, title="Sign in", login_token=token,
                                  error=error, enabled=self.ui.auth.enabled,
                                  has_users=bool(self.ui.auth.users or self.ui.auth.plain_users))
        self.ui.set_cookie(request, response, LOGIN_COOKIE, token, max_age=3600)
        return response

    async def login(self, request: Request) -> Response:
        form = await request.form()
        cookie = request.cookies.get(LOGIN_COOKIE)
        sent = str(form.get("login_token") or "")
        if not same_origin(request) or not cookie or not secrets.compare_digest(cookie, sent):
            return forbidden(self.ui, request, "This sign-in form was not sent from this gateway's UI "
                                               "(missing or wrong CSRF token). Reload the page and try again.")
        if not self.ui.auth.enabled:
            return await self.login_form(request, "Sign-in is off: set general_settings.master_key "
                                                  "(or ui_users) in the config.", 403)
        if self.ui.throttled(request):
            return await self.login_form(request, "Too many failed sign-ins from this address; wait a few "
                                                  "minutes.", 429)
        user = await self.run(self.ui.auth.sign_in, str(form.get("username") or ""), str(form.get("password") or ""))
        if user is None:
            self.ui.failed(request)
            return await self.login_form(request, "Wrong user name or password.", 401)
        response = self.ui.redirect(request, "/ui")
        self.ui.start_session(request, response, user)
        return response

    async def logout(self, request: Request, session: Session) -> Response:
        response = self.ui.redirect(request, "/ui/login", "Signed out.")
        self.ui.end_session(response)
        return response

    # -- overview ---------------------------------------------------------------------------

    async def overview(self, request: Request, session: Session) -> Response:
        range_name = request.query_params.get("range", "7d")
        if range_name not in queries.RANGES:
            range_name = "7d"
        data = await self.run(queries.overview, self.db, range_name)
        spend_chart = bar_chart([(b["at"], b["spend"], 0.0) for b in data.buckets], unit=data.unit,
                                title=f"Spend per {data.unit}", fmt=lambda v: f"${v:,.4g}")
        requests_chart = bar_chart([(b["at"], float(b["requests"]), float(b["errors"])) for b in data.buckets],
                                   unit=data.unit, title=f"Requests per {data.unit} (errors in red)",
                                   fmt=lambda v: f"{v:,.0f}", highlight_name="errors", whole=True)
        return self.ui.render(request, "overview.html", title="Overview", data=data, range_name=range_name,
                              ranges=list(queries.RANGES), spend_chart=spend_chart, requests_chart=requests_chart)

    # -- keys ---------------------------------------------------------------------------------

    async def keys(self, request: Request, session: Session, error: str | None = None,
                   form: dict[str, Any] | None = None, status: int = 200) -> Response:
        page = _page(request)
        rows, total = await self.run(lambda: (self.records().list("key", page=page, size=PAGE_SIZE),
                                              self.records().count("key")))
        usage = await self.run(queries.spend_by, self.db, "api_key", [r["token_hash"] for r in rows])
        teams = await self.run(lambda: self.records().list("team", size=500))
        users = await self.run(lambda: self.records().list("user", size=500))
        return self.ui.render(request, "keys.html", status=status, title="Keys", rows=rows, usage=usage,
                              total=total, page=page, pages=max(1, -(-total // PAGE_SIZE)), error=error,
                              form=form or {}, models=self.gateway.router.get_model_names(), teams=teams, users=users,
                              now=datetime.now(timezone.utc))

    async def create_key(self, request: Request, session: Session) -> Response:
        form = request.scope["ui_form"]
        try:
            body = _fields(form, text=("key_alias", "team_id", "user_id", "budget_duration", "duration"),
                           numbers=("max_budget", "soft_budget"),
                           integers=("rpm_limit", "tpm_limit", "max_parallel_requests"))
            models = [m for m in form.getlist("models") if m]
            if models:
                body["models"] = models
            created = await self.manage.call("/key/generate", body)
        except ActionError as exc:
            return await self.keys(request, session, error=exc.message,
                                   form={**dict(form), "models": form.getlist("models")}, status=400)
        return self.ui.render(request, "key_secret.html", title="Key created", key=created["key"],
                              row=created, what="created")

    async def key_action(self, request: Request, session: Session) -> Response:
        form = request.scope["ui_form"]
        token_hash, action = str(form.get("token") or ""), str(form.get("action") or "")
        paths = {"block": "/key/block", "unblock": "/key/unblock", "regenerate": "/key/regenerate",
                 "delete": "/key/delete"}
        if action not in paths:
            return await self.keys(request, session, error=f"Unknown action {action[:40]!r}.", status=400)
        try:
            answer = await self.manage.call(paths[action], {"keys": [token_hash]} if action == "delete"
                                            else {"key": token_hash})
        except ActionError as exc:
            return await self.keys(request, session, error=exc.message, status=400)
        if action == "regenerate":
            return self.ui.render(request, "key_secret.html", title="Key regenerated", key=answer["key"],
                                  row=answer, what="regenerated")
        if action == "delete" and not answer.get("deleted"):
            return await self.keys(request, session, error="No such key (deleted already?).", status=404)
        done = {"block": "blocked", "unblock": "unblocked", "delete": "deleted"}[action]
        return self.ui.redirect(request, "/ui/keys", f"Key {done}.")

    # -- users, teams, end users -------------------------------------------------------------------

    def people(self, kind_path: str):
        kind, id_col, prefix, spend_col, title = KINDS[kind_path]

        async def listing(request: Request, session: Session, error: str | None = None,
                          form: dict[str, Any] | None = None, status: int = 200) -> Response:
            page = _page(request)
            rows, total = await self.run(lambda: (self.records().list(kind, page=page, size=PAGE_SIZE),
                                                  self.records().count(kind)))
            usage = await self.run(queries.spend_by, self.db, spend_col, [r[id_col] for r in rows])
            key_counts: dict[str, int] = {}
            if kind in ("user", "team"):
                for r in rows:
                    key_counts[r[id_col]] = await self.run(lambda i=r[id_col]: self.records().count("key", **{id_col: i}))
            return self.ui.render(request, "people.html", status=status, title=title, kind=kind, kind_path=kind_path,
                                  id_col=id_col, rows=rows, usage=usage, key_counts=key_counts, total=total, page=page,
                                  pages=max(1, -(-total // PAGE_SIZE)), error=error, form=form or {},
                                  models=self.gateway.router.get_model_names())

        async def create(request: Request, session: Session) -> Response:
            form = request.scope["ui_form"]
            id_param = "end_user_id" if kind == "customer" else id_col
            names = {"user": ("user_email", "user_role"), "team": ("team_alias",), "customer": ("alias",)}[kind]
            try:
                body = _fields(form, text=(id_col, *names, "budget_duration"), numbers=("max_budget",),
                               integers=() if kind == "customer" else ("rpm_limit", "tpm_limit"))
                if kind == "customer" and id_col in body:
                    body[id_param] = body.pop(id_col)
                models = [m for m in form.getlist("models") if m]
                if models and kind != "customer":
                    body["models"] = models
                answer = await self.manage.call(f"{prefix}/new", body)
            except ActionError as exc:
                return await listing(request, session, error=exc.message, form=dict(form), status=400)
            if kind == "user" and answer.get("key"):  # /user/new issues the user a key: shown once, like any key
                return self.ui.render(request, "key_secret.html", title="User created", key=answer["key"],
                                      row=answer, what="created for the new user")
            return self.ui.redirect(request, f"/ui/{kind_path}", f"{title[:-1]} created.")

        async def action(request: Request, session: Session) -> Response:
            form = request.scope["ui_form"]
            ident, what = str(form.get("id") or ""), str(form.get("action") or "")
            plural = "team_ids" if kind == "team" else "user_ids"
            try:
                if what == "delete":
                    answer = await self.manage.call(f"{prefix}/delete", {plural: [ident]})
                    if not answer.get("deleted"):
                        raise ActionError("Nothing deleted (deleted already?).")
                elif what in ("block", "unblock") and kind == "team":
                    await self.manage.call(f"/team/{what}", {"team_id": ident})
                elif what in ("block", "unblock"):
                    id_param = "end_user_id" if kind == "customer" else id_col
                    await self.manage.call(f"{prefix}/update", {id_param: ident, "blocked": what == "block"})
                else:
                    raise ActionError(f"Unknown action {what[:40]!r}.")
            except ActionError as exc:
                return await listing(request, session, error=exc.message, status=400)
            return self.ui.redirect(request, f"/ui/{kind_path}", f"{title[:-1]} {what}{'d' if what.endswith('e') else 'ed'}.")

        return listing, create, action

    # -- models -------------------------------------------------------------------------------

    async def models(self, request: Request, session: Session, error: str | None = None,
                     form: dict[str, Any] | None = None, status: int = 200) -> Response:
        router = self.gateway.router
        cooling = await router.cooling()
        since = datetime.now(timezone.utc) - timedelta(hours=24)
        stats = await self.run(_deployment_stats, self.db, since)
        rows = []
        for d in router.deployments:
            last = self.gateway.metrics.last_state(d.model_name, d.id)
            state = "cooling down" if d.id in cooling else {None: "no calls yet", 0: "healthy",
                                                              1: "failing"}.get(last, "outage")
            rows.append({"group": d.model_name, "model": d.params.get("model"), "id": d.id,
                         "stored": bool(d.model_info.get("db_model")),
                         "api_base": _scrub(d.params.get("api_base"), self.gateway.secrets),
                         "rpm": d.rpm, "tpm": d.tpm, "order": d.order, "weight": d.weight, "state": state,
                         "stats": stats.get(d.id)})
        return self.ui.render(request, "models.html", title="Models", rows=rows, editable=self.models_editable(),
                              error=error, form=form or {}, status=status)

    def models_editable(self) -> bool:
        """Models change here only through /model/new and friends, with store_model_in_db on."""
        return self.manage.has("/model/new") and getattr(self.gateway, "models", None) is not None

    async def create_model(self, request: Request, session: Session) -> Response:
        form = request.scope["ui_form"]
        if not self.models_editable():
            return await self.models(request, session, error=MODELS_READ_ONLY, status=400)
        try:
            await self.manage.call("/model/new", model_body(form))
        except ActionError as exc:
            return await self.models(request, session, error=exc.message, form=dict(form), status=400)
        return self.ui.redirect(request, "/ui/models", "Model added.")

    async def model_action(self, request: Request, session: Session) -> Response:
        form = request.scope["ui_form"]
        if not self.models_editable():
            return await self.models(request, session, error=MODELS_READ_ONLY, status=400)
        model_id, action = str(form.get("id") or ""), str(form.get("action") or "")
        try:
            if action == "delete":
                await self.manage.call("/model/delete", {"id": model_id})
            elif action == "update":
                body = model_body(form, partial=True)
                await self.manage.call("/model/update", {**body, "model_info": {"id": model_id}})
            else:
                raise ActionError(f"Unknown action {action[:40]!r}.")
        except ActionError as exc:
            return await self.models(request, session, error=exc.message, status=400)
        return self.ui.redirect(request, "/ui/models", "Model deleted." if action == "delete" else "Model updated.")

    # -- request logs ----------------------------------------------------------------------------

    async def logs(self, request: Request, session: Session) -> Response:
        q = request.query_params
        filters = {name: (q.get(name) or "").strip() for name in ("key", "team", "model", "status", "start", "end")}
        error = None
        try:
            start, end = _local_time(filters["start"], "start"), _local_time(filters["end"], "end")
            after = _cursor(q.get("after"))
        except ValueError as exc:
            start = end = after = None
            error = str(exc)
        api_key = await self._key_filter(filters["key"]) if filters["key"] else None
        rows = [] if error or api_key == "" else await self.run(lambda: queries.request_logs(
            self.db, api_key=api_key, team_id=filters["team"] or None, model=filters["model"] or None,
            status=filters["status"] or None, start=start, end=end, after=after, size=PAGE_SIZE))
        if api_key == "":
            error = f"No key has the alias or value {filters['key'][:64]!r}."
        next_cursor = None
        if len(rows) == PAGE_SIZE:
            last = rows[-1]
            next_cursor = f"{last['start_time'].isoformat()}|{last['request_id']}"
        return self.ui.render(request, "logs.html", title="Request logs", rows=rows, filters=filters, error=error,
                              next_cursor=next_cursor, models=self.gateway.router.get_model_names(),
                              query={k: v for k, v in filters.items() if v})

    async def _key_filter(self, value: str) -> str:
        """A key filter by alias, hash, or the key itself; "" when nothing matches."""
        if len(value) == 64 and all(c in "0123456789abcdef" for c in value):
            return value
        if value.startswith("sk-"):
            return hash_key(value)
        found = await self.run(lambda: self.records().list("key", size=1, key_alias=value))
        return found[0]["token_hash"] if found else ""

    async def log_detail(self, request: Request, session: Session) -> Response:
        request_id = request.path_params["request_id"]
        found = await self.run(lambda: self.records().spend_logs(request_id=request_id, size=1))
        if not found:
            return self.ui.render(request, "error.html", status=404, title="Not found",
                                  message="No request with that id.")
        row = found[0]
        key = await self.run(self.records().get, "key", row["api_key"]) if row.get("api_key") else None
        metadata = row.get("metadata") or {}
        return self.ui.render(request, "log_detail.html", title="Request", row=row, key=key,
                              metadata=orjson.dumps(metadata, option=orjson.OPT_INDENT_2).decode() if metadata else "",
                              messages=_transcript(row.get("messages")), answer=_transcript(_answers(row.get("response"))),
                              raw_messages=_json(row.get("messages")), raw_response=_json(row.get("response")),
                              storing=bool(self.gateway.accounting.store_prompts))

    # -- guardrails and cache ---------------------------------------------------------------------

    async def runtime(self, request: Request, session: Session) -> Response:
        from ..gateway.cache import describe

        cache = self.gateway.cache
        cache_info = None
        if cache is not None:
            healthy = True
            try:
                await cache.ping()
            except Exception:
                healthy = False
            counters = dict(cache.counters)
            looked = counters.get("hits", 0) + counters.get("misses", 0)
            cache_info = {"describe": describe(cache), "healthy": healthy, "counters": counters,
                          "hit_rate": counters.get("hits", 0) / looked if looked else None}
        return self.ui.render(request, "runtime.html", title="Guardrails & cache",
                              guardrails=self.gateway.guardrails.listing(), cache=cache_info,
                              message_logging=not self.gateway.config.litellm_settings.get("turn_off_message_logging"))


def _transcript(value: Any) -> list[dict[str, str]] | None:
    """Chat messages as (role, text) for display; None when they are not chat messages."""
    if not isinstance(value, list) or not value or not all(isinstance(m, dict) and "role" in m for m in value):
        return None
    out = []
    for message in value:
        content = message.get("content")
        if isinstance(content, list):  # content parts: the text ones, the rest named
            content = "\n".join(p.get("text", f"[{p.get('type', 'part')}]") if isinstance(p, dict) else str(p)
                                for p in content)
        elif content is None and message.get("tool_calls"):
            content = _json(message["tool_calls"])
        out.append({"role": str(message.get("role")), "text": "" if content is None else str(content)})
    return out


def _answers(choices: Any) -> Any:
    """The answer's choices as messages (chat), or as they are."""
    if isinstance(choices, list) and choices and all(isinstance(c, dict) and "message" in c for c in choices):
        return [c["message"] for c in choices]
    return choices


def _json(value: Any) -> str:
    return "" if value is None else orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


MODELS_READ_ONLY = ("Models are changed here only with general_settings.store_model_in_db: true; this gateway "
                    "serves the config's model_list (change the config and restart).")


def model_body(form, *, partial: bool = False) -> dict[str, Any]:
    """The model form as LiteLLM's /model/new (or /model/update) body. An empty
    field is left out: on an update it keeps what is stored (an API key is
    never shown, so it is only ever replaced)."""
    params: dict[str, Any] = {}
    for name in ("model", "api_base", "api_key", "api_version"):
        value = str(form.get(name) or "").strip()
        if value:
            params[name] = value
    for name in ("rpm", "tpm"):
        value = str(form.get(name) or "").strip()
        if value:
            try:
                params[name] = int(value)
            except ValueError:
                raise ActionError(f"{name} must be a whole number; got {value[:40]!r}", name) from None
    body: dict[str, Any] = {"litellm_params": params}
    name = str(form.get("model_name") or "").strip()
    if name or not partial:
        body["model_name"] = name
    if not partial:
        body["model_info"] = {}
    return body


def _deployment_stats(db, since: datetime) -> dict[str, dict[str, Any]]:
    from sqlalchemy import case, func, select

    from ..store.schema import spend_logs

    failed = case((spend_logs.c.status != "success", 1), else_=0)
    query = (select(spend_logs.c.model_id, func.count().label("requests"), func.sum(failed).label("errors"),
                    func.avg(spend_logs.c.latency_ms).label("latency"))
             .where(spend_logs.c.start_time >= since, spend_logs.c.model_id.is_not(None))
             .group_by(spend_logs.c.model_id))
    with db.engine.connect() as conn:
        return {r.model_id: {"requests": int(r.requests), "errors": int(r.errors or 0), "latency": r.latency}
                for r in conn.execute(query)}


def _fields(form, *, text=(), numbers=(), integers=()) -> dict[str, Any]:
    """Form fields as a management body: empty fields left out, numbers
    checked here so the message names the field as the form labels it."""
    body: dict[str, Any] = {}
    for name in text:
        value = str(form.get(name) or "").strip()
        if value:
            body[name] = value
    for name, kind in [(n, float) for n in numbers] + [(n, int) for n in integers]:
        value = str(form.get(name) or "").strip()
        if value:
            try:
                body[name] = kind(value)
            except ValueError:
                raise ActionError(f"{name} must be a {'number' if kind is float else 'whole number'}; "
                                  f"got {value[:40]!r}", name) from None
    return body


def _page(request: Request) -> int:
    try:
        return max(1, min(int(request.query_params.get("page", 1)), 1_000_000))
    except ValueError:
        return 1


def _local_time(value: str, name: str) -> datetime | None:
    """A datetime-local input (read as UTC), or a date."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} must be a date and time (YYYY-MM-DDTHH:MM)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _cursor(value: str | None) -> tuple[datetime, str] | None:
    if not value:
        return None
    at, sep, request_id = value.partition("|")
    if not sep:
        raise ValueError("bad page cursor")
    parsed = datetime.fromisoformat(at)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)), request_id


def _scrub(value: Any, secrets_: tuple[str, ...]) -> str | None:
    if not value:
        return None
    text = str(value)
    for secret in secrets_:
        text = text.replace(secret, "****")
    return text
