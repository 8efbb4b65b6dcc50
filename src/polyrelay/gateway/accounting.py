"""Budgets, limits and spend around each model call in the gateway.

``admit`` runs before the Router is called: it checks the caller's key,
user, team and end user against their budgets and rate limits (the Ledger,
from memory or Redis) and reserves the call's maximum cost. ``finish`` runs
when the call is over — answered, failed, or a stream that ended or was
abandoned: it spools the spend record (one write, before the answer is
complete) and settles the reservation to the real cost in the background.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .. import tokens
from ..catalog import CATALOG
from ..errors import ServiceUnavailableError
from ..cost import LONG_CONTEXT_LIMITS, PRICE_FIELDS, cost_per_token
from ..store.ledger import Admission, Ledger, Subject
from ..store.spend import SpendSpool
from . import key_fields
from .keys import VirtualKeys

log = logging.getLogger("polyrelay.gateway")
# Without max_tokens, reserve this much output: enough for most answers; a
# longer one is settled to its real cost afterwards like any other.
RESERVE_OUTPUT_TOKENS = 4096


@dataclass(slots=True)
class Estimate:
    priced_as: str
    prompt: int
    output: int
    copies: int

    @property
    def tokens(self) -> int:
        return (self.prompt + self.output) * self.copies


@dataclass(slots=True)
class Ticket:
    call_id: str
    call_type: str
    model_group: str | None
    key_hash: str | None
    user_id: str | None
    team_id: str | None
    end_user: str | None
    metadata: dict[str, Any] | None
    tags: list[str] | None
    started: float
    admission: Admission | None
    messages: Any = None  # what was sent (store_prompts_in_spend_logs), after pre-call guardrails


def _limited(subject: Subject) -> bool:
    return any(v is not None for v in (subject.max_budget, subject.rpm_limit, subject.tpm_limit,
                                       subject.max_parallel_requests, subject.soft_budget))


def soft_budget_alert(metrics, subject: Subject, spent: float) -> None:
    """A subject's spend went past its soft_budget: say so in the log and the metrics; the call is not refused."""
    log.warning("soft budget reached: %s %s has spent %.6f USD, past its soft_budget of %s USD", subject.label(),
                subject.ident, spent, subject.soft_budget)
    metrics.child(metrics.soft_budget_alerts, subject.kind).inc()


def _has_model_limits(key_row: dict[str, Any]) -> bool:
    return bool(key_row.get("model_max_budget") or key_row.get("model_rpm_limit") or key_row.get("model_tpm_limit"))


def _tags(key_row: dict[str, Any] | None, metadata: dict[str, Any] | None) -> list[str] | None:
    """The key's tags, then the request's ``metadata.tags``: recorded on the spend row."""
    tags = list((key_row or {}).get("tags") or ())
    asked = (metadata or {}).get("tags")
    if isinstance(asked, list):
        tags += [t for t in asked if isinstance(t, str) and t not in tags]
    return tags or None


class Accounting:
    def __init__(self, keys: VirtualKeys, ledger: Ledger, spool: SpendSpool, router, *,
                 redact_metadata: bool = False, max_budget: float | None = None,
                 budget_duration: str | None = None, store_prompts: bool = False) -> None:
        self.keys = keys
        self.ledger = ledger
        self.spool = spool
        self.router = router
        self.redact_metadata = redact_metadata
        # general_settings.store_prompts_in_spend_logs: the request's messages and the answer's
        # choices are kept on its spend record; never with turn_off_message_logging.
        self.store_prompts = store_prompts and not redact_metadata
        self._settling: set[asyncio.Task] = set()
        self._rate_cache: dict[tuple[str, int], tuple[float, float] | None] = {}
        # litellm_settings.max_budget: one budget over every call, in epoch-aligned windows
        self.max_budget, self.budget_duration = max_budget, budget_duration
        self._global_seed: tuple[float | None, float] | None = None  # (window start, spend recorded in it)

    def models_changed(self) -> None:
        """The model list changed (store_model_in_db): prices are looked up again."""
        self._rate_cache.clear()

    async def _global_subject(self) -> Subject:
        """The gateway-wide budget as a subject; its spend so far is read from the
        spend logs once per window, then counted live like any other budget."""
        start, end = key_fields.budget_window(self.budget_duration)
        if self._global_seed is None or self._global_seed[0] != start:
            since = datetime.fromtimestamp(start, timezone.utc) if start is not None else None
            self._global_seed = (start, await self.keys.db.run(self.keys.records.model_spend, None, None, since))
        return Subject("global", "gateway", spend=self._global_seed[1], max_budget=self.max_budget,
                       budget_reset_at=datetime.fromtimestamp(end, timezone.utc) if end else None)

    def refused(self, ctx, call_type: str, model: str | None, body: dict[str, Any]) -> None:
        """A call refused before admission (a guardrail said no): one failure row, nothing reserved."""
        principal = ctx.principal
        entry = getattr(principal, "entry", None)
        metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else None
        end_user = body.get("user") if isinstance(body.get("user"), str) else None
        ticket = Ticket(ctx.call_id, call_type, model, getattr(principal, "key_hash", None),
                        getattr(principal, "user_id", None), getattr(principal, "team_id", None), end_user,
                        metadata, _tags(entry.key if entry is not None else None, metadata), time.time(), None)
        self.finish(ticket, {}, None, "failure")

    async def admit(self, ctx, call_type: str, model: str | None, body: dict[str, Any], payload: dict[str, Any],
                    call_id: str | None = None, cached: bool = False) -> Ticket:
        """``cached``: the answer comes from the response cache and costs
        nothing, so limits are checked but nothing is reserved."""
        principal = ctx.principal
        entry = getattr(principal, "entry", None)
        subjects = [s for s in entry.subjects() if _limited(s)] if entry is not None else []
        if entry is not None and model is not None and _has_model_limits(entry.key):
            subjects += await self.keys.model_subjects(entry, model)
        if entry is not None and (entry.org is not None or (entry.team or {}).get("member_budgets")):
            subjects += await self.keys.scope_subjects(entry)
        if self.max_budget is not None:
            subjects.append(await self._global_subject())
        end_user = body.get("user") if isinstance(body.get("user"), str) else None
        if end_user:
            customer = await self.keys.customer(end_user)
            if _limited(customer):
                subjects.append(customer)
        if not self.spool.writable:
            # Checked before any provider is called: a call we could not record would be paid and unbilled.
            raise ServiceUnavailableError(f"Spend records cannot be written ({self.spool.problem}); "
                                          "retry on another instance or later.", code="spend_spool_unavailable",
                                          headers={"retry-after": "5"})
        admission = None
        if subjects:
            reserve_cost, reserve_tokens = 0.0, 0
            budgeted = any(s.max_budget is not None for s in subjects)
            token_limited = any(s.tpm_limit is not None for s in subjects)
            if (budgeted or token_limited) and not cached and model is not None and self.router.has_group(model):
                await tokens.preload(str(self.router.group(model)[0].params["model"]))
                estimate = self._estimate(model, body, payload)
                reserve_tokens = estimate.tokens
                if budgeted:
                    reserve_cost = self._max_cost(model, estimate)
            admission = await self.ledger.admit(subjects, reserve_cost, reserve_tokens)
        metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else None
        ticket = Ticket(call_id or ctx.call_id, call_type, model, getattr(principal, "key_hash", None),
                        getattr(principal, "user_id", None), getattr(principal, "team_id", None), end_user,
                        metadata, _tags(entry.key if entry is not None else None, metadata), time.time(), admission)
        if self.store_prompts:
            ticket.messages = next((payload[name] for name in ("messages", "prompt", "input") if name in payload), None)
        return ticket

    def _estimate(self, model: str, body: dict[str, Any], payload: dict[str, Any]) -> "Estimate":
        """The most this call can use: the prompt counted with the tokenizer, the output
        at its maximum — capped at what the model can produce, so an absurd max_tokens
        cannot reserve a budget (or a tpm limit) away from everyone else."""
        deployment = self.router.group(model)[0]
        priced_as = str(deployment.params["model"])
        output = int(body.get("max_completion_tokens") or body.get("max_tokens") or RESERVE_OUTPUT_TOKENS)
        output = max(1, min(output, _max_output(priced_as)))
        copies = max(1, int(body.get("n") or 1))
        return Estimate(priced_as, _prompt_tokens(payload, priced_as), output, copies)

    def _max_cost(self, model: str, estimate: "Estimate") -> float:
        """The most this call can cost, priced as the group's first deployment.
        (Only for callers with a budget: others pay no counting.)"""
        deployment = self.router.group(model)[0]
        rates = self._rates(model, deployment)
        if rates is None:
            return 0.0  # an unpriced model reserves nothing; its calls cost 0 as well
        if estimate.prompt > min(LONG_CONTEXT_LIMITS):  # long prompts may be priced higher: ask in full
            prices = {k: deployment.call_params[k] for k in PRICE_FIELDS if k in deployment.call_params}
            prompt, completion = cost_per_token(model=estimate.priced_as, prompt_tokens=estimate.prompt,
                                                completion_tokens=estimate.output, custom_cost_per_token=prices or None)
            return max(0.0, (prompt + completion) * estimate.copies)
        per_input, per_output = rates
        return max(0.0, (estimate.prompt * per_input + estimate.output * per_output) * estimate.copies)

    def _rates(self, model: str, deployment) -> tuple[float, float] | None:
        """(per input token, per output token) of a group's first deployment, looked up once
        per catalogue version; None when nothing prices it."""
        key = (model, CATALOG.version)
        if key not in self._rate_cache:
            prices = {k: deployment.call_params[k] for k in PRICE_FIELDS if k in deployment.call_params}
            try:
                per_input, _ = cost_per_token(model=str(deployment.params["model"]), prompt_tokens=1,
                                              custom_cost_per_token=prices or None)
                _, per_output = cost_per_token(model=str(deployment.params["model"]), completion_tokens=1,
                                               custom_cost_per_token=prices or None)
                self._rate_cache[key] = (per_input, per_output)
            except Exception:
                self._rate_cache[key] = None
        return self._rate_cache[key]

    def finish(self, ticket: Ticket, hidden: dict[str, Any] | None, usage: Any, status: str) -> float:
        """Spool the spend record now; settle the budget reservation soon after.
        The reservation is settled however recording goes, and recording does
        not raise on what a call carried (odd usage, metadata the spool cannot
        write): the call is answered, and its cost is kept."""
        cost, tokens_used = 0.0, 0
        try:
            cost, tokens_used = self._record(ticket, hidden, usage, status)
        except Exception:
            log.exception("spend record for %s could not be written", ticket.call_id)
        finally:
            if ticket.admission is not None:
                task = asyncio.get_running_loop().create_task(self.ledger.settle(ticket.admission, cost, tokens_used))
                self._settling.add(task)
                task.add_done_callback(self._settling.discard)
                ticket.admission = None  # settled once, whatever calls finish again
        return cost

    def _record(self, ticket: Ticket, hidden: dict[str, Any] | None, usage: Any, status: str) -> tuple[float, int]:
        hidden = hidden or {}
        usage = _as_dict(usage)
        cost = _number(hidden.get("response_cost")) if status == "success" or usage else 0.0
        cost = cost if cost > 0.0 else 0.0  # a price can be wrong; a refund through spend never happens
        end = time.time()
        details = usage.get("prompt_tokens_details") or {}
        record = {
            "request_id": ticket.call_id, "call_type": ticket.call_type, "api_key": ticket.key_hash,
            "user_id": ticket.user_id, "team_id": ticket.team_id, "end_user": ticket.end_user,
            "model_group": ticket.model_group, "model": _text(hidden.get("model")) or ticket.model_group,
            "model_id": _text(hidden.get("model_id")), "provider": _text(hidden.get("custom_llm_provider")),
            "prompt_tokens": _count(usage.get("prompt_tokens")),
            "completion_tokens": _count(usage.get("completion_tokens")),
            "cached_tokens": _count(details.get("cached_tokens") if isinstance(details, dict) else 0),
            "total_tokens": _count(usage.get("total_tokens")), "spend": cost,
            "start_time": ticket.started, "end_time": end, "latency_ms": (end - ticket.started) * 1000,
            "status": status, "metadata": None if self.redact_metadata else ticket.metadata,
            "request_tags": ticket.tags,
        }
        if ticket.messages is not None:  # store_prompts_in_spend_logs
            record["messages"] = ticket.messages
            record["response"] = hidden.get("logged_response")
        if hidden.get("cache_hit"):  # answered from the response cache: said in the record's metadata
            record["metadata"] = {**(record["metadata"] or {}), "cache_hit": True}
        self.spool.record(record)
        return cost, record["total_tokens"]

    def release(self, ticket: Ticket) -> None:
        """Give back a reservation for a call that was never made (nothing is recorded)."""
        if ticket.admission is not None:
            task = asyncio.get_running_loop().create_task(self.ledger.release(ticket.admission))
            self._settling.add(task)
            task.add_done_callback(self._settling.discard)

    def watch_stream(self, ticket: Ticket, stream) -> None:
        """Finish the ticket when the stream ends, however it ends."""
        def done(finished, error: BaseException | None) -> None:
            ok = error is None or isinstance(error, (GeneratorExit, asyncio.CancelledError))
            try:
                self.finish(ticket, finished._hidden_params, finished.usage, "success" if ok else "failure")
            except RuntimeError:  # no running loop: the process is shutting down
                log.warning("spend record for %s not settled: no event loop", ticket.call_id)

        stream.add_done_callback(done)

    async def drain(self) -> None:
        if self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)


def _as_dict(usage: Any) -> dict[str, Any]:
    if usage is None:
        return {}
    if isinstance(usage, dict):
        return usage
    dump = getattr(usage, "model_dump", None)
    return dump() if dump is not None else {}


def _number(value: Any) -> float:
    """A cost as a float; anything else (an upstream's odd value) is 0."""
    try:
        number = float(value or 0.0)
    except (TypeError, ValueError):
        return 0.0
    return number if number == number and abs(number) != float("inf") else 0.0


def _count(value: Any) -> int:
    """A token count as a non-negative int; an upstream's odd value is 0."""
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError, OverflowError):
        return 0


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# Without a catalogue entry saying otherwise, no answer is longer than this.
DEFAULT_MAX_OUTPUT_TOKENS = 131_072


def _max_output(model: str) -> int:
    found = CATALOG.find(model)
    if found is not None:
        entry = found[1]
        limit = entry.get("max_output_tokens") or entry.get("max_tokens")
        if isinstance(limit, (int, float)) and limit > 0:
            return int(limit)
    return DEFAULT_MAX_OUTPUT_TOKENS


def _prompt_tokens(payload: dict[str, Any], model: str) -> int:
    if "messages" in payload:
        return tokens.count_messages(payload["messages"], model)
    text = payload.get("prompt", payload.get("input", ""))
    items = text if isinstance(text, list) else [text]
    return sum(tokens.count_text(i, model) if isinstance(i, str) else len(i) if isinstance(i, list) else 1
               for i in items)
