"""The guardrail stage of the gateway's LLM route: the one call the route makes.

``before_call`` picks the request's guardrails, runs the pre_call ones and
returns the plan (None when none apply: the route then does no guardrail
work at all); their decisions go into ``metadata.guardrail_information``,
appended as they happen. The route hands the provider call to ``plan.around`` for
during_call and post_call. A pre_call refusal is written to the spend log
here (cost 0, no provider called, the decision in its metadata), since the
call never reaches admission.
"""

from __future__ import annotations

from typing import Any

from ..errors import BadRequestError
from .base import GuardrailBlocked
from .runner import Guardrails, Plan


async def before_call(gateway, ctx, call_type: str, input_field: str, model: str | None, payload: dict[str, Any],
                      body: dict[str, Any]) -> Plan | None:
    guardrails: Guardrails = gateway.guardrails
    plan = guardrails.plan(body, ctx.principal, call_type)
    if plan is None:
        return None
    ctx.guardrails = plan.header_value()
    ctx.log_mask = plan.log_mask()  # logging_only ones: what sinks see is masked, the call is not
    # The decisions, appended as they happen, travel in the request's metadata: the
    # spend record and the logging payload read them there (LiteLLM's guardrail_information).
    metadata = body.get("metadata")
    body["metadata"] = {**metadata, "guardrail_information": plan.information} if isinstance(metadata, dict) \
        else {"guardrail_information": plan.information}
    data = {"model": model, **payload, **body}
    try:
        data = await plan.pre_call(data)
    except GuardrailBlocked:
        record_refusal(gateway, ctx, call_type, model, body, plan)
        raise
    # Hooks may change the request in place or return a new one: take the result back.
    if data.get(input_field) is not payload.get(input_field):
        payload[input_field] = data[input_field]
    for key, value in data.items():
        if key not in ("model", input_field) and body.get(key) is not value:
            body[key] = value
    plan.data = data
    return plan


def refuse_batch(gateway, ctx, body: dict[str, Any]) -> None:
    """``model="a,b"`` answers a list; guardrails do not reach into it yet, so a batch they apply to is refused."""
    plan = gateway.guardrails.plan(body, ctx.principal, "batch")
    if plan is not None:
        raise BadRequestError(f"guardrails ({', '.join(plan.names)}) apply to this request, and a comma-separated "
                              "model list cannot be guarded yet; call each model on its own", param="model")


def record_refusal(gateway, ctx, call_type: str, model: str | None, body: dict[str, Any], plan: Plan) -> None:
    if gateway.accounting is not None:
        gateway.accounting.refused(ctx, call_type, model, body)


async def keep_in_metadata(gateway, data: dict[str, Any], fields: dict[str, Any], current=None) -> None:
    """``guardrails`` on /key/generate|update and /team/new|update: each name must be
    configured; the list is stored as ``metadata.guardrails`` of the record (no
    schema change). ``current`` loads the record on an update, so that changing
    its metadata keeps the guardrails it enforces unless they are named anew."""
    given = "guardrails" in data
    if not given and not (current is not None and "metadata" in fields):
        return
    if given:
        names = gateway.guardrails.check_names(data["guardrails"] or [], "guardrails")
    row = await current() if current is not None else None
    if not given:
        names = ((row or {}).get("metadata") or {}).get("guardrails")
        if not names:
            return
    base = fields["metadata"] if "metadata" in fields else ((row or {}).get("metadata") or {})
    fields["metadata"] = {**(base or {}), "guardrails": list(dict.fromkeys(names))}
