"""The admin web UI at ``/ui`` (SPEC 11): server-rendered pages from the
gateway itself, charts drawn as inline SVG, no JavaScript needed, every
asset shipped in this package.

Why this stack: a Python team keeps it with what it already knows —
Starlette routes, Jinja2 templates (autoescaping on), plain HTML forms and
one stylesheet. No build step, no node_modules, no bundle to audit or
update, nothing to fetch at run time; the strict Content-Security-Policy
(no inline script or style, nothing from elsewhere) holds because there is
no script at all. Charts are a hundred lines of Python (charts.py).

The API's key check (the auth middleware) lets ``/ui`` through: the UI has
its own sign-in and session cookie (auth.py), since a browser cannot send a
bearer header on a plain link.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

UI_PREFIX = "/ui"


def is_ui_path(path: str) -> bool:
    return path == "/" or path == UI_PREFIX or path.startswith(UI_PREFIX + "/")


def make_ui_routes(gateway) -> list[Route]:
    from .auth import from_config
    from .pages import KINDS, Pages
    from .web import STATIC_TYPES, UI, page

    ui = UI(gateway, from_config(gateway.config))
    pages = Pages(ui)

    async def root(request: Request) -> Response:
        return RedirectResponse("/ui", status_code=307)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        body = ui.static.get(name)
        if body is None:
            return Response("not found", status_code=404, media_type="text/plain")
        kind = STATIC_TYPES.get(name[name.rfind("."):], "application/octet-stream")
        return Response(body, media_type=kind, headers={"cache-control": "public, max-age=3600",
                                                        "x-content-type-options": "nosniff"})

    routes: list[tuple[str, Any, list[str]]] = [
        ("/", root, ["GET"]),
        ("/ui", page(ui, pages.overview), ["GET"]),
        ("/ui/", page(ui, pages.overview), ["GET"]),
        ("/ui/login", pages.login_form, ["GET"]),
        ("/ui/login", pages.login, ["POST"]),
        ("/ui/logout", page(ui, pages.logout, post=True), ["POST"]),
        ("/ui/keys", page(ui, pages.keys), ["GET"]),
        ("/ui/keys/create", page(ui, pages.create_key, post=True), ["POST"]),
        ("/ui/keys/action", page(ui, pages.key_action, post=True), ["POST"]),
        ("/ui/models", page(ui, pages.models), ["GET"]),
        ("/ui/models/create", page(ui, pages.create_model, post=True), ["POST"]),
        ("/ui/models/action", page(ui, pages.model_action, post=True), ["POST"]),
        ("/ui/logs", page(ui, pages.logs), ["GET"]),
        ("/ui/logs/{request_id:path}", page(ui, pages.log_detail), ["GET"]),
        ("/ui/runtime", page(ui, pages.runtime), ["GET"]),
        ("/ui/static/{name}", static, ["GET"]),
    ]
    for kind_path in KINDS:
        listing, create, action = pages.people(kind_path)
        routes += [(f"/ui/{kind_path}", page(ui, listing), ["GET"]),
                   (f"/ui/{kind_path}/create", page(ui, create, post=True), ["POST"]),
                   (f"/ui/{kind_path}/action", page(ui, action, post=True), ["POST"])]
    return [Route(path, endpoint, methods=methods, include_in_schema=False) for path, endpoint, methods in routes]
