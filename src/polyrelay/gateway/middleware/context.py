"""Outermost layer: every HTTP request gets a ``RequestContext`` (call id,
start time) and every response, errors included, the ``x-polyrelay-call-id``
header, so a client can quote the id that spend logs are keyed by."""

from __future__ import annotations

from ..http import CONTEXT_KEY, RequestContext


class RequestContextMiddleware:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ctx = RequestContext()
        scope[CONTEXT_KEY] = ctx
        call_id = (b"x-polyrelay-call-id", ctx.call_id.encode())

        async def send_with_call_id(message) -> None:
            if message["type"] == "http.response.start":
                ctx.status = message["status"]
                # A new list: routes may hand us header lists they reuse.
                message["headers"] = [*message.get("headers", ()), call_id]
            await send(message)

        send_with_call_id.after_start = send  # only the start is changed (http.body_sender)
        await self.app(scope, receive, send_with_call_id)
