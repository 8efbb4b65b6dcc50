"""Health: liveliness (the process answers), readiness (the Router is up),
and GET /health, which calls every deployment once with a tiny request and
reports which answered, as LiteLLM's does. /health costs a few tokens per
deployment and shows every deployment, so it needs the master key and
answers from its last check for ``health_check_interval`` seconds; the
probes need no key."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

import polyrelay

from ...errors import PermissionDeniedError, PolyrelayError
from ...redact import scrub
from ..http import context
from ..metrics import HEALTHY, OUTAGE
from .models import public_params
from .responses import json_response

HEALTH_CHECK_TIMEOUT = 30.0
# litellm_params the Router reads itself; they must not reach a provider.
_ROUTER_ONLY = frozenset({"rpm", "tpm", "weight", "max_parallel_requests", "configurable_clientside_auth_params",
                          "order", "model_info", "stream_timeout"})


def make_health_routes(gateway):
    async def liveliness(request: Request) -> Response:
        return json_response("I'm alive!")

    async def readiness(request: Request) -> Response:
        """503 while this instance cannot take calls: starting, or its spend
        spool cannot be written (calls would answer 503). A database problem
        is reported in "db" without taking the instance out: calls go on and
        their records wait in the spool. Both come from background checks
        (store_health.py): a probe costs no disk or database access."""
        ready = gateway.ready
        store = gateway.store_health
        spool = gateway.spool
        spool_ok = spool is None or spool.writable
        status = "starting" if not ready else "healthy" if spool_ok else "unhealthy"
        body = {"status": status, "db": store.db_status if store is not None else "Not connected",
                "spend_spool": "writable" if spool_ok else f"not writable: {spool.problem}",
                "cache": None, "polyrelay_version": polyrelay.__version__}
        return json_response(body, status=200 if ready and spool_ok else 503)

    checks = HealthChecks(gateway)

    async def health(request: Request) -> Response:
        principal = context(request.scope).principal
        if principal is not None and not principal.is_admin:
            raise PermissionDeniedError("GET /health calls every deployment; it needs the master key.",
                                        code="admin_only")
        return json_response(await checks.report(request.query_params.get("model")))

    return liveliness, readiness, health


class HealthChecks:
    """GET /health's upstream calls, at most once per ``health_check_interval``
    per model filter; callers in between (or at the same time) share the last
    answer, so /health cannot be used to make unbilled upstream calls at will."""

    def __init__(self, gateway) -> None:
        self.gateway = gateway
        self._last: dict[str | None, tuple[float, dict[str, Any]]] = {}
        self._lock = asyncio.Lock()

    async def report(self, wanted: str | None) -> dict[str, Any]:
        gateway = self.gateway
        if wanted is not None and not gateway.router.has_group(wanted):
            wanted = "\x00unknown"  # one cache slot for every unknown name
        async with self._lock:
            found = self._last.get(wanted)
            if found is not None and time.monotonic() - found[0] < gateway.config.health_check_interval:
                return found[1]
            report = await self._check(wanted)
            if len(self._last) > 1000:
                self._last.clear()
            self._last[wanted] = (time.monotonic(), report)
            return report

    async def _check(self, wanted: str | None) -> dict[str, Any]:
        gateway = self.gateway
        deployments = [d for d in gateway.router.get_model_list() if not wanted or d.get("model_name") == wanted]
        results = await asyncio.gather(*(check_deployment(d) for d in deployments))
        healthy, unhealthy = [], []
        for deployment, error in zip(deployments, results):
            entry = public_params(deployment.get("litellm_params") or {}, gateway.secrets)
            entry["model_name"] = deployment.get("model_name")
            model_id = (deployment.get("model_info") or {}).get("id")
            entry["model_id"] = model_id
            if model_id:
                gateway.metrics.set_deployment_state(entry["model_name"], str(model_id),
                                                     HEALTHY if error is None else OUTAGE)
            if error is None:
                healthy.append(entry)
            else:
                entry["error"] = scrub(error, gateway.secrets)
                unhealthy.append(entry)
        return {"healthy_endpoints": healthy, "unhealthy_endpoints": unhealthy,
                "healthy_count": len(healthy), "unhealthy_count": len(unhealthy)}


async def check_deployment(deployment: dict[str, Any]) -> str | None:
    """None if the deployment answered a minimal request, else the error message."""
    params = {k: v for k, v in (deployment.get("litellm_params") or {}).items() if k not in _ROUTER_ONLY}
    model = params.pop("model", "")
    params["num_retries"] = 0
    params["timeout"] = min(float(params.get("timeout") or HEALTH_CHECK_TIMEOUT), HEALTH_CHECK_TIMEOUT)
    mode = (deployment.get("model_info") or {}).get("mode", "chat")
    try:
        if mode == "embedding":
            await polyrelay.aembedding(model, input=["health check"], **params)
        elif mode == "moderation":
            await polyrelay.amoderation("health check", model, **params)
        elif mode == "completion":
            await polyrelay.atext_completion(model, prompt="ping", max_tokens=1, **params)
        else:
            await polyrelay.acompletion(model, [{"role": "user", "content": "ping"}], max_tokens=1, **params)
    except PolyrelayError as exc:
        return exc.message
    except Exception as exc:  # a deployment that fails oddly is unhealthy, not a crash of /health
        return f"{type(exc).__name__}: {exc}"
    return None
