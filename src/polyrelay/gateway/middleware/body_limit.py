"""Refuses request bodies over ``general_settings.max_request_size_mb`` with
an OpenAI-format 413: at once from ``content-length`` when the client sends
it, or as soon as the bytes read pass the limit (chunked uploads)."""

from __future__ import annotations

from ..http import body_too_large, send_error


class BodyTooLarge(Exception):
    """Raised from ``receive`` mid-body; routes read the body outside their
    error handling so this reaches the middleware."""


class BodyLimitMiddleware:
    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await send_error(send, body_too_large(limit), scope)
                    return
                break
        seen = 0
        started = False

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        tracking_send.after_start = send  # only the start is watched (http.body_sender)
        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await send_error(send, body_too_large(limit), scope)
