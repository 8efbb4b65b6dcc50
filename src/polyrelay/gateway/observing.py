"""The gateway's side of observability (``observe/``): who called, for the
logging payload; the ``CustomLogger`` hooks around each LLM call; calls
refused before the Router (budgets, limits, hooks) logged as failures.

Made at start-up only when a callback is configured: ``Gateway.observing``
is None otherwise, and the LLM route then does none of this.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from .. import observe
from ..observe.hooks import GatewayHooks, UserAPIKeyAuth, for_gateway

KINDS = {"chat_completions": "chat", "completions": "text", "embeddings": "embedding", "moderations": "moderation"}


class Observing:
    def __init__(self, hooks: GatewayHooks | None) -> None:
        self.hooks = hooks

    @classmethod
    def configured(cls, registry=None) -> "Observing | None":
        from ..observe.handlers import offload_service_sinks

        # Set by the CLI (gateway/cli.py): a gateway embedded in another program (background.py)
        # leaves that program's callbacks where they are.
        served = os.environ.get("POLYRELAY_SINK_PROCESS", "").strip()
        if served == "1":
            offload_service_sinks()  # langfuse, otel, s3, generic_api: in a sink process (observe/sink_process.py)
        handlers = observe.active_handlers()
        if handlers is None:
            return None
        if served:
            observe.DISPATCHER.attach(asyncio.get_running_loop())  # no second thread taking the GIL
        remote = tuple(dict.fromkeys(name for sink in handlers.success + handlers.failure
                                     if getattr(sink, "remote", False) for name in sink.names))
        if remote:
            from ..observe.sink_process import CHANNEL

            CHANNEL.start(remote)  # now, not on the first call: its start-up is not paid by a request
        if registry is not None:
            registry.register(DispatchCollector())
            from ..observe.sinks.prometheus import PrometheusSink

            PrometheusSink.registry = registry  # LiteLLM's metric names on this gateway's /metrics
        return cls(for_gateway(handlers.loggers))

    # --- who called ---------------------------------------------------------------------

    @staticmethod
    def auth(ctx, body: dict[str, Any] | None = None) -> UserAPIKeyAuth:
        principal = ctx.principal
        entry = getattr(principal, "entry", None)
        key = getattr(entry, "key", None) or {}
        team = getattr(entry, "team", None) or {}
        return UserAPIKeyAuth(api_key=getattr(principal, "key_hash", None), token=getattr(principal, "key_hash", None),
                              key_alias=key.get("key_alias"), user_id=getattr(principal, "user_id", None),
                              team_id=getattr(principal, "team_id", None), team_alias=team.get("team_alias"),
                              end_user_id=(body or {}).get("user"),
                              models=list(getattr(principal, "models", None) or []),
                              metadata=dict(getattr(principal, "metadata", None) or {}),
                              user_role="proxy_admin" if getattr(principal, "is_admin", False) else "internal_user")

    def caller(self, ctx, body: dict[str, Any]) -> dict[str, Any]:
        """The key fields of the standard logging payload's metadata (observe/payload.py): the
        same values ``auth`` gives the hooks, read directly (this runs on every call)."""
        principal = ctx.principal
        entry = getattr(principal, "entry", None)
        key = getattr(entry, "key", None) or {}
        team = getattr(entry, "team", None) or {}
        key_fields = {  # payload.KEY_FIELDS, in its order: the payload's metadata takes them as they are
            "user_api_key_hash": getattr(principal, "key_hash", None), "user_api_key_alias": key.get("key_alias"),
            "user_api_key_team_id": getattr(principal, "team_id", None),
            "user_api_key_user_id": getattr(principal, "user_id", None),
            "user_api_key_team_alias": team.get("team_alias"), "user_api_key_org_id": None,
            "user_api_key_max_budget": key.get("max_budget"), "user_api_key_spend": key.get("spend"),
            "user_api_key_team_max_budget": team.get("max_budget"), "user_api_key_team_spend": team.get("spend")}
        return {"key_fields": key_fields, "trace_id": ctx.call_id,
                "applied_guardrails": ctx.guardrails.decode().split(",") if ctx.guardrails else [],
                "log_mask": ctx.log_mask}

    # --- around the call ----------------------------------------------------------------

    async def pre_call(self, ctx, spec, model: str | None, payload: dict[str, Any], body: dict[str, Any]):
        """The pre-call hooks on the whole request; returns it split again as the route holds it."""
        if self.hooks is None or not self.hooks.pre:
            return model, payload, body
        data = {**body, "model": model, **payload}
        data = await self.hooks.pre_call(self.auth(ctx, body), data, spec.name)
        model = data.pop("model", model)
        payload = {spec.input_field: data.pop(spec.input_field, payload.get(spec.input_field))}
        return model, payload, data

    def before_router(self, ctx, body: dict[str, Any], scope: dict[str, Any]) -> None:
        caller = body["polyrelay_log"] = self.caller(ctx, body)
        now = time.time()
        traceparent = next((v.decode("latin-1") for k, v in scope.get("headers") or () if k == b"traceparent"), None)
        caller["gateway"] = {"request_start": now - (time.perf_counter() - ctx.started), "router_start": now,
                             "traceparent": traceparent, "route": scope.get("path")}

    @staticmethod
    async def cache_hit(route: str, model: str | None, payload: dict[str, Any], body: dict[str, Any], call) -> Any:
        """A cache hit never reaches the Router (where calls are logged): log it here, with
        its ``cache_hit: true`` hidden params (a stream once it has been relayed whole)."""
        watch = observe.start(KINDS.get(route, route), model or "", payload, body)
        result = await call
        return watch.answered(result) if watch is not None else result

    async def answered(self, ctx, body: dict[str, Any], data: Any) -> Any:
        if self.hooks is None or not self.hooks.success:
            return data
        result = await self.hooks.post_success(body, self.auth(ctx, body), data)
        return result.model_dump() if hasattr(result, "model_dump") else result

    def stream(self, ctx, body: dict[str, Any], stream: Any) -> Any:
        return stream if self.hooks is None else self.hooks.wrap_stream(stream, self.auth(ctx, body))

    async def failed(self, ctx, spec, model: str | None, payload: dict[str, Any] | None, body: dict[str, Any] | None,
                     error: BaseException, reached_router: bool) -> None:
        body = body or {}
        if not reached_router:  # the core logs what the Router tried; this call never got there
            kwargs = {**body, "litellm_call_id": ctx.call_id, "polyrelay_log": self.caller(ctx, body)}
            observe.blocked(KINDS.get(spec.name, spec.name), model or "", payload or {}, kwargs, error)
        if self.hooks is not None and self.hooks.failure:
            await self.hooks.post_failure({**body, "model": model, **(payload or {})}, error, self.auth(ctx, body))


class DispatchCollector:
    """``polyrelay_callback_events_dropped_total`` and ``..._delivered_total`` by callback, read
    from the dispatcher at scrape time (nothing is counted on the request path)."""

    def collect(self):
        from prometheus_client.core import CounterMetricFamily

        dropped, delivered = observe.DISPATCHER.counts()  # the sink process's counts included
        for name, counts, text in (("dropped", dropped, "Logging records dropped (queue full or every "
                                    "delivery try failed), by callback"),
                                   ("delivered", delivered, "Logging records delivered, by callback")):
            family = CounterMetricFamily(f"polyrelay_callback_events_{name}", text, labels=["callback"])
            for callback, value in sorted(counts.items()):
                family.add_metric([callback], value)
            yield family
