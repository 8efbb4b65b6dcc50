"""The UI changes records through the management API's own handlers
(routes/management.py): the same checks, the same errors, the same cache
invalidation as ``POST /key/generate`` and friends, with the signed-in UI
user acting as the admin. Nothing here writes SQL."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from ..errors import PolyrelayError
from ..gateway.auth import MASTER
from ..gateway.http import context
from ..gateway.routes.management import make_management_routes


class ActionError(Exception):
    """A management call refused what the form sent: its message is shown to the user."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class Management:
    def __init__(self, gateway) -> None:
        self.gateway = gateway
        self.handlers = {path: endpoint for path, endpoint, methods, _ in make_management_routes(gateway)
                         if "POST" in methods}

    def has(self, path: str) -> bool:
        return path in self.handlers

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to a management route as the admin; its JSON answer, or ActionError."""
        payload = orjson.dumps(body)
        scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "headers": [(b"content-type", b"application/json")], "path_params": {}}
        context(scope).principal = MASTER
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}

        try:
            response = await self.handlers[path](Request(scope, receive))
        except PolyrelayError as exc:
            raise ActionError(exc.message, getattr(exc, "param", None)) from None
        return orjson.loads(response.body)
