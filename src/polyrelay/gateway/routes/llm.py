"""The endpoint behind /chat/completions, /completions, /embeddings and
/moderations: parse, check, call the Router, answer.

One ASGI class serves all four; an ``EndpointSpec`` says what differs
(the Router method, the required field, the field types, whether it
streams). Per request: one JSON parse of the body, plain type checks on
the fields present, one Router call answering with a wire dict, one ``orjson.dumps``
of the answer. Nothing is re-validated.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import orjson

from ...errors import BadRequestError, PermissionDeniedError, ServiceUnavailableError
from .. import extras
from ..http import (
    ClientGone,
    as_polyrelay_error,
    context,
    error_dict,
    overhead_header,
    parse_json_object,
    read_body,
    response_headers,
    send_bytes,
    send_error,
)
from ..cache import CACHED_METHODS
from ...guardrails import stage as guardrail_stage
from ..disconnect import cancel_on_disconnect
from ..key_fields import resolve_alias
from ..schema import COMMON_FIELDS, Rule, check_fields
from .sse import relay_stream


@dataclass(frozen=True)
class EndpointSpec:
    name: str
    router_method: str  # Router coroutine to call
    input_field: str  # the required payload field (messages / prompt / input)
    input_check: Callable[[str, Any], None]  # raises BadRequestError naming what is wrong
    fields: dict[str, Rule] = field(default_factory=dict)
    streams: bool = False
    model_required: bool = True
    batchable: bool = False
    # Another API in (dialects/): its request becomes a chat call, the answer,
    # stream and errors go back in its shape. None: the OpenAI route itself.
    dialect: Any = None


async def _ready(answer: Any) -> Any:
    return answer


async def _stored(cache, cached, call) -> Any:
    return await cache.store(cached, await call)


class LLMEndpoint:
    """ASGI endpoint for one kind of model call. ``model_from_path`` serves the
    Azure-style routes, where the deployment name is in the URL."""

    def __init__(self, gateway, spec: EndpointSpec, model_from_path: bool = False) -> None:
        self.gateway = gateway
        self.spec = spec
        self.model_from_path = model_from_path
        self.fields = {**COMMON_FIELDS, **spec.fields}
        self.send_error = spec.dialect.send_error if spec.dialect is not None else send_error
        self.__name__ = spec.name  # Starlette names routes after their endpoint

    async def __call__(self, scope, receive, send) -> None:
        ctx = context(scope)
        try:
            raw = await self.read_request(scope, receive)
        except ClientGone:  # the client left while sending: no one to answer
            ctx.status, ctx.error_type = 499, "client_disconnected"
            return
        gateway = self.gateway
        observing = gateway.observing  # None unless callbacks are configured (gateway/observing.py)
        ticket = model = payload = body = None
        reached_router = False
        try:
            body = self.parse_request(raw)
            if self.spec.dialect is not None:
                body = await self.spec.dialect.to_chat(body, scope)
            if self.model_from_path:
                body["model"] = scope["path_params"]["model"]
            model, payload = self._check(body)
            model = resolve_alias(ctx.principal, model)  # the key's own aliases
            if observing is not None:
                model, payload, body = await observing.pre_call(ctx, self.spec, model, payload, body)
            if gateway.router is None:
                raise ServiceUnavailableError("The gateway is still starting; retry in a moment.")
            ctx.model = metrics_label(gateway.router, model, body)
            batch = extras.split_batch(gateway.router, model, gateway.config.max_batch_models) if model else None
            if batch is not None:
                guardrail_stage.refuse_batch(gateway, ctx, body)
                await self._batch(ctx, send, batch, payload, body)
                return
            self._authorize(ctx, model, body)
            # Pre-call guardrails (may refuse or mask), before any cache lookup or admission.
            plan = await guardrail_stage.before_call(gateway, ctx, self.spec.name, self.spec.input_field, model,
                                                     payload, body)
            body["litellm_call_id"] = ctx.call_id
            body["polyrelay_wire"] = True  # answers as wire dicts: no model to build only to dump
            # Cache lookup: a hit is the answer, with no provider call (gateway/cache.py).
            cached = await self._cache_lookup(model, payload, body) if gateway.cache is not None else None
            # Budgets and limits, before any provider is called; a hit reserves nothing.
            hit = cached is not None and cached.answer is not None
            ticket = await gateway.accounting.admit(ctx, self.spec.name, model, body, payload, cached=hit)
            if observing is not None:
                observing.before_router(ctx, body, scope)
            reached_router = True
            if hit:
                call = _ready(cached.answer)
                if observing is not None:  # no Router call to log it: logged here, cache_hit true
                    call = observing.cache_hit(self.spec.name, model, payload, body, call)
            else:
                call = self._call(model, cached.payload if cached is not None else payload, body)
                if cached is not None:  # stored as the provider gave it (a stream when it ends whole)
                    call = _stored(gateway.cache, cached, call)
            if plan is not None:  # during_call beside the call, post_call on its answer (or stream)
                call = plan.around(call, plan.data, bool(body.get("stream")) and self.spec.streams)
            started = time.perf_counter()
            try:
                # A client that leaves now (before an answer or a first chunk) cancels the upstream call.
                result = await cancel_on_disconnect(receive, call)
            finally:
                ctx.upstream_s += time.perf_counter() - started
        except ClientGone:
            ctx.status, ctx.error_type = 499, "client_disconnected"
            if ticket is not None:
                gateway.accounting.finish(ticket, {}, None, "failure")
            return
        except Exception as exc:
            self._record_failure(ctx, exc)
            if ticket is not None:  # an answer a guardrail refused was still paid for (spent_*)
                gateway.accounting.finish(ticket, getattr(exc, "spent_hidden", None) or
                                          {"model_id": getattr(exc, "model_id", None)},
                                          getattr(exc, "spent_usage", None), "failure")
            if observing is not None:
                await observing.failed(ctx, self.spec, model, payload, body, exc, reached_router)
            await self.send_error(send, exc, scope, gateway.secrets)
            return
        dialect = self.spec.dialect
        if body.get("stream") and self.spec.streams:
            gateway.accounting.watch_stream(ticket, result)
            if observing is not None:
                result = observing.stream(ctx, body, result)
            if dialect is None:
                await relay_stream(gateway, ctx, result, scope, receive, send)
            else:
                await relay_stream(gateway, ctx, result, scope, receive, send, dialect.encoder(scope),
                                   self.send_error)
            return
        await self.answer(ctx, send, ticket, result, body, scope)

    # --- steps (audio routes override the first two and the last: routes/audio.py) ---

    async def read_request(self, scope, receive) -> Any:
        return await read_body(receive)

    def parse_request(self, raw: Any) -> dict[str, Any]:
        return parse_json_object(raw)

    async def answer(self, ctx, send, ticket, result, body, scope) -> None:
        gateway, dialect = self.gateway, self.spec.dialect
        observing = gateway.observing
        data = _wire(result)
        hidden = getattr(result, "_hidden_params", None) or {}
        if observing is not None:
            try:
                data = await observing.answered(ctx, body, data)
            except Exception as exc:  # a post-call hook refusing the answer
                gateway.accounting.finish(ticket, {**hidden, "model": data.get("model")}, data.get("usage"), "success")
                await self.send_error(send, exc, scope, gateway.secrets)
                return
        response_ms = getattr(result, "_response_ms", None)
        data["_response_ms"] = response_ms if response_ms is not None else ctx.upstream_s * 1000
        # Booked before the answer is written: the provider was paid even if the answer cannot be relayed.
        # store_prompts_in_spend_logs: the answer's choices (chat, text); never an embedding's vectors.
        logged = {"logged_response": data.get("choices")} if ticket.messages is not None else {}
        gateway.accounting.finish(ticket, {**hidden, "model": data.get("model"), **logged}, data.get("usage"), "success")
        gateway.record_success(ctx.model or "", hidden, data.get("usage"))
        out = orjson.dumps(data if dialect is None else dialect.answer(data, scope))
        await send_bytes(send, 200, out, response_headers(ctx, hidden))

    def _check(self, body: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        """Type-check the fields present; pull out model and the payload field."""
        check_fields(body, self.fields)
        extras.check_refused(body)
        spec = self.spec
        model = body.pop("model", None)
        if model is None and spec.model_required:
            raise BadRequestError("Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
        if model is not None and not model:
            raise BadRequestError("'model' must not be empty.", param="model", code="invalid_value")
        value = body.pop(spec.input_field, None)
        if value is None:
            raise BadRequestError(f"Missing required parameter: {spec.input_field!r}.", param=spec.input_field,
                                  code="missing_required_parameter")
        spec.input_check(spec.input_field, value)
        if body.get("stream") and not spec.streams:
            raise BadRequestError(f"{spec.name} does not stream; drop 'stream'.", param="stream")
        for key in extras.GATEWAY_ONLY_FIELDS:
            body.pop(key, None)
        return model, {spec.input_field: value}

    def _authorize(self, ctx, model: str | None, body: dict[str, Any]) -> None:
        principal = ctx.principal
        restricted = principal is not None and principal.models is not None
        if model is None:
            if restricted:  # the default model is no group the key was given
                raise PermissionDeniedError(
                    f"this key may call only {', '.join(principal.models) or 'no models'}; name one in 'model'.",
                    param="model", code="model_not_allowed")
            return
        if restricted:
            principal.check_model(model)
            # Every group the call may fall back to is a group it calls: the request's
            # own fallbacks must be allowed; the config's are skipped where they are not.
            requested = body.get("fallbacks")
            if requested:
                for group in self.gateway.reachable_groups("", {"fallbacks": requested}):
                    principal.check_model(group)
            body["allowed_model_groups"] = principal.models
        user_config = body.get("user_config")
        if user_config is not None:
            extras.check_user_config(self.gateway, user_config, principal)
        extras.check_clientside_params(self.gateway, model, body)

    async def _cache_lookup(self, model: str | None, payload: dict[str, Any], body: dict[str, Any]):
        """The cache's Lookup, or None when this route or request is not cached
        (a per-request ``user_config`` is its own Router: never shared)."""
        kind = CACHED_METHODS.get(self.spec.router_method)
        if kind is None or "user_config" in body:
            return None
        return await self.gateway.cache.lookup(kind, model or "", payload, body, wire=True)

    async def _call(self, model: str | None, payload: dict[str, Any], kwargs: dict[str, Any]):
        method = getattr(self.gateway.router, self.spec.router_method)
        return await method(model=model, **payload, **kwargs)

    async def _batch(self, ctx, send, groups: list[str], payload: dict[str, Any], body: dict[str, Any]) -> None:
        """``model="a,b"``: ask every group at once; answer a JSON list in the
        order given. A group that fails has its error object in its place; if
        all fail, the first error is the answer, with its status."""
        if not self.spec.batchable:
            raise BadRequestError(f"{self.spec.name} does not take a comma-separated list of models.", param="model")
        if body.get("stream"):
            raise BadRequestError("A comma-separated list of models cannot be streamed.", param="stream")
        for group in groups:
            self._authorize(ctx, group, body)
        accounting = self.gateway.accounting
        tickets = []
        try:
            for i, group in enumerate(groups):
                tickets.append(await accounting.admit(ctx, self.spec.name, group, body, payload,
                                                      call_id=f"{ctx.call_id}-{i}"))
        except BaseException:
            for ticket in tickets:  # admitted before one was refused: give their reservations back
                accounting.release(ticket)
            raise
        body["litellm_call_id"] = ctx.call_id
        body["polyrelay_wire"] = True
        started = time.perf_counter()
        try:
            results = await asyncio.gather(*(self._call(g, payload, dict(body)) for g in groups),
                                           return_exceptions=True)
        finally:
            ctx.upstream_s += time.perf_counter() - started
        for ticket, result in zip(tickets, results):
            if isinstance(result, BaseException):
                accounting.finish(ticket, {"model_id": getattr(result, "model_id", None)}, None, "failure")
            else:
                data = _wire(result)
                accounting.finish(ticket, {**result._hidden_params, "model": data.get("model")}, data.get("usage"),
                                  "success")
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            if not isinstance(failure, Exception):
                raise failure  # cancellation and the like: not ours to swallow
        if len(failures) == len(results):
            raise failures[0]
        items: list[Any] = []
        for group, result in zip(groups, results):
            if isinstance(result, Exception):
                self._record_failure(ctx, result, group)
                items.append(error_dict(as_polyrelay_error(result), self.gateway.secrets)[1])
                continue
            data = _wire(result)
            hidden = getattr(result, "_hidden_params", None) or {}
            data["_response_ms"] = getattr(result, "_response_ms", None)
            self.gateway.record_success(metrics_label(self.gateway.router, group, body), hidden, data.get("usage"))
            items.append(data)
        await send_bytes(send, 200, orjson.dumps(items), [overhead_header(ctx)])

    def _record_failure(self, ctx, exc: BaseException, model: str | None = None) -> None:
        deployment = getattr(exc, "model_id", None)
        if deployment:
            # A failure the caller brought on itself (its key, timeout, mock options) is counted,
            # but does not mark the shared deployment unhealthy (issue 12 item 6).
            self.gateway.metrics.record_deployment(model or ctx.model or "", deployment, ok=False,
                                                   health=not getattr(exc, "callers_fault", False))


def metrics_label(router, model: str | None, body: dict[str, Any]) -> str:
    if model is None:
        return "default"
    if "user_config" in body or not router.has_group(model):
        return "other"
    return model


def _wire(result: Any) -> dict[str, Any]:
    """The answer as a dict: as it came (``polyrelay_wire``), or dumped from a model."""
    return result if isinstance(result, dict) else result.model_dump()
