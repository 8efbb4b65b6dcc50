"""The UI's plumbing: templates, security headers, sessions on requests,
CSRF checks, flash messages and the static files.

Every HTML answer carries a strict Content-Security-Policy (only our own
files; no inline script or style), ``X-Frame-Options: DENY``, ``nosniff``,
``same-origin`` referrers and ``no-store``. Templates autoescape every value.
"""

from __future__ import annotations

import hmac
import time
from datetime import datetime
from importlib import resources
from typing import Any, Awaitable, Callable

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .auth import LOGIN_COOKIE, SESSION_COOKIE, SESSION_SECONDS, Session, UIAuth

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",  # not no-referrer: that makes browsers send "Origin: null" on our own forms
    "cross-origin-opener-policy": "same-origin",
}
FLASH_COOKIE = "polyrelay_ui_flash"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".svg": "image/svg+xml", ".ico": "image/x-icon"}


def _money(value: Any) -> str:
    if value is None:
        return "—"
    value = float(value)
    return f"${value:,.2f}" if value >= 1 or value == 0 else f"${value:,.4f}" if value >= 0.0001 else f"${value:.2e}"


def _number(value: Any) -> str:
    return "—" if value is None else f"{value:,}" if isinstance(value, int) else f"{float(value):,.4g}"


def _when(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):  # SQLite hands back text from aggregates
        return value[:19]
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _ms(value: Any) -> str:
    if value is None:
        return "—"
    value = float(value)
    return f"{value:.1f} ms" if value < 10 else f"{value:,.0f} ms"


def make_environment() -> Environment:
    env = Environment(loader=PackageLoader("polyrelay.ui", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(money=_money, number=_number, when=_when, ms=_ms)
    return env


class UI:
    """Shared by every page: templates, the auth, and the request helpers."""

    def __init__(self, gateway, auth: UIAuth) -> None:
        self.gateway = gateway
        self.auth = auth
        self.env = make_environment()
        self.static = {entry.name: entry.read_bytes() for entry in
                       (resources.files("polyrelay.ui") / "static").iterdir() if entry.is_file()}
        self._failures: dict[str, list[float]] = {}  # sign-in failures per client address

    # -- answers ---------------------------------------------------------------------------

    def render(self, request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        session: Session | None = request.scope.get("ui_session")
        values.setdefault("flash", self.take_flash(request))
        html = self.env.get_template(template).render(
            user=session.user if session else None, csrf=self.auth.csrf_token(session) if session else "",
            path=request.url.path, **values)
        response = HTMLResponse(html, status_code=status)
        secure(response)
        if values["flash"]:
            response.delete_cookie(FLASH_COOKIE, path="/ui", httponly=True, samesite="strict")
        return response

    def redirect(self, request: Request, to: str, flash: str | None = None) -> Response:
        response = RedirectResponse(to, status_code=303)
        secure(response)
        if flash:
            self.set_cookie(request, response, FLASH_COOKIE, self._signed(flash[:400]), max_age=60)
        return response

    def set_cookie(self, request: Request, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(name, value, max_age=max_age, path="/ui", httponly=True, samesite="strict",
                            secure=is_https(request))

    def take_flash(self, request: Request) -> str | None:
        raw = request.cookies.get(FLASH_COOKIE)
        if not raw or "|" not in raw:
            return None
        text, _, signature = raw.rpartition("|")
        return text if hmac.compare_digest(signature, self.auth._sign("flash:" + text)) else None

    def _signed(self, text: str) -> str:
        text = text.replace("|", "/").replace("\n", " ")
        return f"{text}|{self.auth._sign('flash:' + text)}"

    # -- sessions ---------------------------------------------------------------------------

    def session(self, request: Request) -> Session | None:
        return self.auth.read_session(request.cookies.get(SESSION_COOKIE))

    def start_session(self, request: Request, response: Response, user: str) -> None:
        self.set_cookie(request, response, SESSION_COOKIE, self.auth.new_session(user), max_age=SESSION_SECONDS)
        response.delete_cookie(LOGIN_COOKIE, path="/ui", httponly=True, samesite="strict")

    def end_session(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/ui", httponly=True, samesite="strict")

    # -- sign-in throttle ---------------------------------------------------------------------

    def throttled(self, request: Request, window: float = 300.0, allowed: int = 10) -> bool:
        """Too many failed sign-ins from this address in the last five minutes?"""
        who = request.client.host if request.client else "?"
        recent = [t for t in self._failures.get(who, []) if t > time.monotonic() - window]
        self._failures[who] = recent
        if len(self._failures) > 10_000:  # bounded: forget the oldest addresses
            self._failures.pop(next(iter(self._failures)))
        return len(recent) >= allowed

    def failed(self, request: Request) -> None:
        who = request.client.host if request.client else "?"
        self._failures.setdefault(who, []).append(time.monotonic())


def secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    response.headers["cache-control"] = "no-store"
    return response


def is_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def same_origin(request: Request) -> bool:
    """A POST whose Origin (sent by every current browser) names another site is refused."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1].rstrip("/") == host


Handler = Callable[[Request, Session], Awaitable[Response]]


def page(ui: UI, handler: Handler, *, post: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """A signed-in page: no session sends the browser to the sign-in page;
    a POST must come from our own forms (CSRF token, same origin)."""
    async def endpoint(request: Request) -> Response:
        session = ui.session(request)
        if session is None:
            if post:
                return forbidden(ui, request, "Your session has ended: sign in again.")
            return ui.redirect(request, "/ui/login")
        request.scope["ui_session"] = session
        if post:
            form = await request.form()
            if not same_origin(request) or not ui.auth.csrf_ok(session, form.get("csrf_token")):
                return forbidden(ui, request, "This form was not sent from this gateway's UI (missing or wrong "
                                              "CSRF token). Reload the page and try again.")
            request.scope["ui_form"] = form
        return await handler(request, session)
    return endpoint


def forbidden(ui: UI, request: Request, message: str) -> Response:
    return ui.render(request, "error.html", status=403, title="Refused", message=message)
