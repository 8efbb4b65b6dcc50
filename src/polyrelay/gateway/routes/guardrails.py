"""``GET /guardrails/list``: the configured guardrails, as LiteLLM lists them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from .responses import json_response


def make_guardrails_route(gateway):
    async def list_guardrails(request: Request) -> Response:
        return json_response({"guardrails": gateway.guardrails.listing()})

    return list_guardrails
