"""POST /v1/messages and /v1/messages/count_tokens: Anthropic's Messages API in.

The request is turned into a chat call (``dialects/anthropic_messages.py``)
and served by the chat route itself (``llm.LLMEndpoint``): the same keys,
budgets, limits, routing, fallbacks and spend, recorded with call type
``anthropic_messages``. The answer, the stream and every error go back in
Anthropic's shapes, so the ``anthropic`` SDK raises its own classes.
"""

from __future__ import annotations

from typing import Any

import orjson

from ... import tokens
from ...dialects import anthropic_messages as messages
from ...dialects.anthropic_stream import MessageEvents
from ...errors import BadRequestError, ServiceUnavailableError
from ..anthropic_errors import send_anthropic_error
from ..http import context, parse_json_object, read_body, send_bytes
from .chat import CHAT
from .llm import EndpointSpec


MODEL_KEY = "polyrelay.anthropic_model"  # the requested model, kept in the ASGI scope for the answer


class MessagesDialect:
    send_error = staticmethod(send_anthropic_error)

    @staticmethod
    async def to_chat(body: dict[str, Any], scope) -> dict[str, Any]:
        scope[MODEL_KEY] = body.get("model")
        beta = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"anthropic-beta"), None)
        return messages.to_chat(body, beta)

    @staticmethod
    def answer(data: dict[str, Any], scope) -> dict[str, Any]:
        return messages.from_chat(data, scope.get(MODEL_KEY))

    @staticmethod
    def encoder(scope) -> MessageEvents:
        return MessageEvents(scope.get(MODEL_KEY))


MESSAGES = EndpointSpec(
    name="anthropic_messages",  # LiteLLM's call type for this route
    router_method=CHAT.router_method,
    input_field=CHAT.input_field,
    input_check=CHAT.input_check,
    fields=CHAT.fields,
    streams=True,
    dialect=MessagesDialect(),
)


class CountTokens:
    """POST /v1/messages/count_tokens: ``{"input_tokens": N}``, counted with the
    tokenizer of the group's first deployment (no provider is called)."""

    __name__ = "count_tokens"

    def __init__(self, gateway) -> None:
        self.gateway = gateway

    async def __call__(self, scope, receive, send) -> None:
        gateway = self.gateway
        ctx = context(scope)
        try:
            body = parse_json_object(await read_body(receive))
            body.setdefault("max_tokens", 1)  # count_tokens takes no max_tokens; the translation wants one
            chat = messages.to_chat(body)
            model = chat.get("model")
            if not isinstance(model, str) or not model:
                raise BadRequestError("model: Field required", param="model")
            if gateway.router is None:
                raise ServiceUnavailableError("The gateway is still starting; retry in a moment.")
            if ctx.principal is not None:
                ctx.principal.check_model(model)
            name = str(gateway.router.group(model)[0].params["model"]) if gateway.router.has_group(model) else model
            await tokens.preload(name)
            count = tokens.count_messages(chat["messages"], name)
            if chat.get("tools"):
                count += tokens.count_text(orjson.dumps(chat["tools"]).decode(), name)
        except Exception as exc:
            await send_anthropic_error(send, exc, scope, gateway.secrets)
            return
        await send_bytes(send, 200, orjson.dumps({"input_tokens": count}))
