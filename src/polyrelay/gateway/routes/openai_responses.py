"""POST /v1/responses, GET and DELETE /v1/responses/{id}: OpenAI's Responses API in.

The request is turned into a chat call (``dialects/responses.py``) and
served by the chat route itself (``llm.LLMEndpoint``): the same keys,
budgets, limits, routing, fallbacks and spend, recorded with call type
``responses``. Errors keep OpenAI's shape (the Responses API uses it too);
a stream that fails after it began ends with ``response.failed``.

``store`` (default true) keeps the finished Response, readable only by the
key that made it, for GET and for a later call's ``previous_response_id``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from ...dialects import responses as dialect
from ...dialects.responses_stream import ResponseEvents
from ...errors import NotFoundError, ServiceUnavailableError
from ..http import context, send_error
from .chat import CHAT
from .llm import EndpointSpec, LLMEndpoint
from .responses import json_response

STATE_KEY = "polyrelay.responses"  # per-request state in the ASGI scope


def owner_of(principal: Any) -> str:
    if principal is None:
        return "open"
    return principal.key_hash or principal.kind


class Stored:
    """The gateway's ResponseStore, made once the database is open."""

    def __init__(self, gateway) -> None:
        self.gateway = gateway
        self._store = None

    @property
    def store(self):
        if self._store is None:
            if self.gateway.db is None:
                raise ServiceUnavailableError("The gateway is still starting; retry in a moment.")
            from ...store.responses import ResponseStore

            self._store = ResponseStore(self.gateway.db)
        return self._store


class ResponsesDialect:
    send_error = staticmethod(send_error)

    def __init__(self, stored: Stored) -> None:
        self.stored = stored

    async def to_chat(self, body: dict[str, Any], scope) -> dict[str, Any]:
        owner = owner_of(context(scope).principal)
        history: list[dict[str, Any]] = []
        previous = body.get("previous_response_id")
        if previous:
            found = await self.stored.store.get(owner, str(previous))
            if found is None:
                raise NotFoundError(f"Previous response with id '{previous}' not found.",
                                    param="previous_response_id", code="previous_response_not_found")
            history = found[1]
        chat, dropped = dialect.to_chat(body, history)
        # The conversation a later turn continues from: without this call's instructions (they do not carry over).
        conversation = chat["messages"][1:] if body.get("instructions") else chat["messages"]
        response = dialect.skeleton(body, dialect.new_id("resp"), body.get("model"), dropped)
        scope[STATE_KEY] = (response, list(conversation), body.get("store", True) is not False, owner)
        return chat

    def _keep(self, scope, response: dict[str, Any]) -> None:
        _, conversation, store, owner = scope[STATE_KEY]
        if store and response.get("status") in ("completed", "incomplete"):
            self.stored.store.save(owner, response, conversation + dialect.output_as_chat(response["output"]))

    def answer(self, data: dict[str, Any], scope) -> dict[str, Any]:
        response = dialect.from_chat(data, scope[STATE_KEY][0])
        self._keep(scope, response)
        return response

    def encoder(self, scope) -> ResponseEvents:
        return ResponseEvents(scope[STATE_KEY][0], on_done=lambda response: self._keep(scope, response))


def make_responses_routes(gateway) -> list[tuple[str, Any, list[str], str]]:
    stored = Stored(gateway)
    spec = EndpointSpec(name="responses", router_method=CHAT.router_method, input_field=CHAT.input_field,
                        input_check=CHAT.input_check, fields=CHAT.fields, streams=True,
                        dialect=ResponsesDialect(stored))

    async def retrieve(request: Request):
        found = await stored.store.get(owner_of(context(request.scope).principal), request.path_params["response_id"])
        if found is None:
            raise NotFoundError(f"Response with id '{request.path_params['response_id']}' not found.",
                                code="response_not_found")
        return json_response(found[0])

    async def remove(request: Request):
        response_id = request.path_params["response_id"]
        if not await stored.store.delete(owner_of(context(request.scope).principal), response_id):
            raise NotFoundError(f"Response with id '{response_id}' not found.", code="response_not_found")
        return json_response({"id": response_id, "object": "response", "deleted": True})

    return [
        ("/responses", LLMEndpoint(gateway, spec), ["POST"], "OpenAI Responses API, for any model group"),
        ("/responses/{response_id}", retrieve, ["GET"], "A stored response (only the key that made it)"),
        ("/responses/{response_id}", remove, ["DELETE"], "Delete a stored response"),
    ]
