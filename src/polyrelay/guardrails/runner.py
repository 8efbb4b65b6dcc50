"""Which guardrails run on a request, and running them around the call.

Selection: the ``default_on`` guardrails, plus those named by the request
(``guardrails: [...]`` in the body or in ``metadata``), plus those its key
and its team enforce (``metadata.guardrails`` of their records). A request
can only add to that set: nothing it sends switches one off. A name that is
not configured is refused (400), or, when a key or team names it, the call
fails closed (it would otherwise run unguarded).

When no guardrail applies, ``plan`` returns None and the request does no
other guardrail work.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..errors import BadRequestError, InternalServerError, PolyrelayError
from .base import CustomGuardrail, GuardrailBlocked, UserAPIKeyAuth, overrides
from .text import request_slots, response_slots

# Media routes: whether the request, and the answer, carry text a guardrail can check.
# (Chat, completions, embeddings and moderations are text in; their guardrails run as before.)
TEXT_SIDES = {
    "image_generation": (True, True),  # the prompt; the answer's revised_prompt, when the model gives one
    "speech": (True, False),  # the text to speak; audio back
    "transcription": (False, True),  # audio in; the transcript back
    "rerank": (True, True),  # the query and the documents; the documents in the results, when returned
}
IN_MODES, OUT_MODES = ("pre_call", "during_call"), ("post_call",)


class Guardrails:
    def __init__(self, guardrails: list[CustomGuardrail]) -> None:
        self.by_name = {g.guardrail_name: g for g in guardrails}
        self.default_on = tuple(g.guardrail_name for g in guardrails if g.default_on)

    def start(self, router: Any) -> None:
        """Guardrails that call a model group of the config (``moderation``) get the gateway's Router."""
        for g in self.by_name.values():
            if hasattr(g, "router"):
                g.router = router

    def listing(self) -> list[dict[str, Any]]:
        """``GET /guardrails/list``, in LiteLLM's shape."""
        out = []
        for g in self.by_name.values():
            kind = getattr(g, "guardrail_type", None) or f"{type(g).__module__}.{type(g).__name__}"
            params: dict[str, Any] = {"guardrail": kind, "mode": g.event_hook, "default_on": g.default_on}
            if hasattr(g, "action"):
                params["action"] = g.action
            out.append({"guardrail_name": g.guardrail_name, "litellm_params": params,
                        "guardrail_info": {"modes": g.event_hook}})
        return out

    def check_names(self, names: Any, where: str) -> list[str]:
        """The names of a ``guardrails`` field, each one configured; else a 400 naming it."""
        if isinstance(names, dict):  # LiteLLM also takes {"name": {...per-request settings}}
            names = list(names)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise BadRequestError(f"{where} must be a list of guardrail names", param="guardrails")
        for name in names:
            if name not in self.by_name:
                known = ", ".join(self.by_name) or "none are configured"
                raise BadRequestError(f"{where}: no guardrail named {name!r} on this gateway ({known})",
                                      param="guardrails", code="unknown_guardrail")
        return names

    def plan(self, body: dict[str, Any], principal: Any, call_type: str) -> "Plan | None":
        names: list[str] = list(self.default_on)
        requested = body.pop("guardrails", None)
        if requested is not None:
            names += self.check_names(requested, "guardrails")
        metadata = body.get("metadata")
        if isinstance(metadata, dict) and metadata.get("guardrails") is not None:
            names += self.check_names(metadata["guardrails"], "metadata.guardrails")
        if principal is not None:
            names += self._enforced(principal)
        if not names:
            return None
        guards = [self.by_name[n] for n in dict.fromkeys(names)]
        plan = Plan(guards, principal, call_type)
        sides = TEXT_SIDES.get(call_type)
        if sides is not None:
            plan.text_in, plan.text_out = sides
            for g in guards:  # a guardrail with nothing to check here is refused, never passed as if it had
                modes = [m for m in g.event_hook if (m in IN_MODES and sides[0]) or (m in OUT_MODES and sides[1])
                         or (m == "logging_only" and any(sides))]
                if not modes:
                    raise BadRequestError(
                        f"guardrail {g.guardrail_name!r} ({', '.join(g.event_hook)}) cannot be applied to "
                        f"{call_type} requests: {_no_text(call_type)}; use a guardrail mode that can, or leave it "
                        "off this route", param="guardrails", code="guardrail_not_applicable")
        return plan

    def _enforced(self, principal: Any) -> list[str]:
        found: list[str] = []
        entry = getattr(principal, "entry", None)
        rows = [("key", {"metadata": principal.metadata})]
        if entry is not None and entry.team is not None:
            rows.append(("team", entry.team))
        for kind, row in rows:
            names = (row.get("metadata") or {}).get("guardrails") if isinstance(row, dict) else None
            if not names:
                continue
            for name in names:
                if name not in self.by_name:  # fail closed: the key or team was promised this guardrail
                    raise InternalServerError(f"this {kind} requires guardrail {name!r}, which is not configured on "
                                         "this gateway; ask the admin", code="guardrail_not_configured")
                found.append(name)
        return found


def _no_text(call_type: str) -> str:
    text_in, text_out = TEXT_SIDES[call_type]
    if not text_in:
        return "the request is audio, only the answer is text (post_call)"
    return "the answer is not text, only the request is (pre_call, during_call)"


def _user(principal: Any) -> UserAPIKeyAuth:
    if principal is None:
        return UserAPIKeyAuth()
    return UserAPIKeyAuth(api_key=principal.key_hash, user_id=principal.user_id, team_id=principal.team_id,
                          metadata=dict(principal.metadata or {}))


class Plan:
    """The guardrails of one request, and what they decided (``information``)."""

    def __init__(self, guards: list[CustomGuardrail], principal: Any, call_type: str) -> None:
        self.guards = guards
        self.user = _user(principal)
        self.call_type = call_type
        self.names = [g.guardrail_name for g in guards]
        self.information: list[dict[str, Any]] = []  # LiteLLM's guardrail_information, one per decision
        self.data: dict[str, Any] = {}  # the request as the hooks saw it (after pre_call)
        self.text_in = self.text_out = True  # media routes: which side has text (TEXT_SIDES)

    def _mode(self, mode: str, hook: str) -> list[CustomGuardrail]:
        if not (self.text_in if mode in IN_MODES else self.text_out):
            return []  # that side of this route has no text (its guardrails were checked in plan())
        return [g for g in self.guards if g.runs_in(mode) and overrides(g, hook)]

    def log_mask(self) -> Any:
        """For the logging payload (observe/payload.py): ``mask(record) -> masked copy`` when a
        ``logging_only`` guardrail applies, else None."""
        if not any(g.runs_in("logging_only") for g in self.guards):
            return None
        import functools

        return functools.partial(mask_for_logging, self.guards)

    def header_value(self) -> bytes:
        return ",".join(self.names).encode()

    async def _run(self, guardrail: CustomGuardrail, mode: str, awaitable, quiet: bool = False) -> Any:
        """Await one hook and record its decision (``quiet``: only a refusal, for per-chunk checks)."""
        started = time.time()
        status, response = "success", None
        try:
            result = await awaitable
        except StopAsyncIteration:  # a stream hook's end, not a decision
            quiet = True
            raise
        except GuardrailBlocked as exc:
            status, response = "guardrail_intervened", exc.reason
            raise
        except PolyrelayError as exc:  # e.g. its service did not answer: the call fails closed
            status, response = "guardrail_failed_to_respond", exc.message
            raise
        except Exception as exc:
            # A custom hook refused with its own exception: the call is refused (400), naming the guardrail.
            status, response = "guardrail_intervened", _reason(exc)
            raise GuardrailBlocked(guardrail.guardrail_name, response) from exc
        finally:
            if not quiet or status != "success":
                self.record(guardrail.guardrail_name, mode, status, response, started)
        return result

    def record(self, name: str, mode: str, status: str, response: Any, started: float) -> None:
        end = time.time()
        self.information.append({"guardrail_name": name, "guardrail_mode": mode,
                                     "guardrail_status": status, "guardrail_response": response,
                                     "start_time": started, "end_time": end, "duration": end - started})

    # --- pre_call ---------------------------------------------------------

    async def pre_call(self, data: dict[str, Any]) -> dict[str, Any]:
        """Runs the pre_call hooks in order; each may change ``data`` (in place or by returning a new dict)."""
        for g in self._mode("pre_call", "async_pre_call_hook"):
            result = await self._run(g, "pre_call", g.async_pre_call_hook(self.user, None, data, self.call_type))
            if isinstance(result, dict):
                data = result
            elif isinstance(result, str):  # LiteLLM: a string returned is the refusal's reason
                raise GuardrailBlocked(g.guardrail_name, result)
        return data

    # --- during_call and post_call, around the provider call ----------------

    async def around(self, call, data: dict[str, Any], streaming: bool) -> Any:
        """The provider call with during_call checks beside it and post_call checks after it."""
        during = self._mode("during_call", "async_moderation_hook")
        if during:
            result = await self._beside(call, during, data)
        else:
            result = await call
        if streaming:
            return self._guard_stream(result, data)
        post = self._mode("post_call", "async_post_call_success_hook")
        if post:
            result = await self._post(result, post, data)
        return result

    async def _beside(self, call, during: list[CustomGuardrail], data: dict[str, Any]) -> Any:
        check = asyncio.ensure_future(asyncio.gather(
            *(self._run(g, "during_call", g.async_moderation_hook(data, self.user, self.call_type)) for g in during)))
        answer = asyncio.ensure_future(call)
        try:
            done, _ = await asyncio.wait((check, answer), return_when=asyncio.FIRST_COMPLETED)
            if check in done and check.exception() is not None:
                answer.cancel()  # refused before the answer came: stop paying for it
                await asyncio.gather(answer, return_exceptions=True)
                raise check.exception()
            result = await answer
        except BaseException:
            check.cancel()
            answer.cancel()
            raise
        try:
            await check
        except GuardrailBlocked as exc:
            await _close(result)
            exc.spent_hidden, exc.spent_usage = _spent(result)
            raise
        return result

    async def _post(self, result: Any, post: list[CustomGuardrail], data: dict[str, Any]) -> Any:
        from .setup import is_text_guardrail

        wire = result if isinstance(result, dict) else result.model_dump()
        try:
            for g in post:
                if is_text_guardrail(g):
                    await self._run(g, "post_call", g.async_post_call_success_hook(data, self.user, wire))
                else:
                    wire = await self._custom_post(g, data, wire)
        except GuardrailBlocked as exc:
            exc.spent_hidden, exc.spent_usage = _spent(result)
            raise
        if wire is not result and isinstance(result, dict):  # a custom hook made a new answer: keep the carrier
            result.clear()
            result.update(wire)
            return result
        return wire if not isinstance(result, dict) else result

    async def _custom_post(self, g: CustomGuardrail, data: dict[str, Any], wire: dict[str, Any]) -> dict[str, Any]:
        """Custom hooks get a response object, as in LiteLLM (``response.choices[0].message.content``)."""
        from ..types import ModelResponse, TextCompletionResponse

        cls = TextCompletionResponse if wire.get("object") == "text_completion" else ModelResponse
        response = cls.from_dict(wire)
        returned = await self._run(g, "post_call", g.async_post_call_success_hook(data, self.user, response))
        if returned is None:
            returned = response
        return returned.model_dump() if hasattr(returned, "model_dump") else dict(returned)

    def _guard_stream(self, stream: Any, data: dict[str, Any]) -> Any:
        from .stream import GuardedStream

        post = [g for g in self.guards if g.runs_in("post_call")] if self.text_out else []
        if not post:
            return stream
        return GuardedStream(stream, post, self, data)


def _reason(exc: BaseException) -> str:
    detail = getattr(exc, "detail", None)  # fastapi's HTTPException, which LiteLLM's examples raise
    if isinstance(detail, dict):
        detail = detail.get("error") or detail.get("message") or str(detail)
    return str(detail or exc) or type(exc).__name__


def _spent(result: Any) -> tuple[dict | None, Any]:
    """What an answer that is now refused cost: the provider was called, the call is charged."""
    hidden = getattr(result, "_hidden_params", None)
    usage = result.get("usage") if isinstance(result, dict) else getattr(result, "usage", None)
    return (dict(hidden) if hidden else None), usage


async def _close(result: Any) -> None:
    close = getattr(result, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:  # closing a broken upstream may raise; the call is refused either way
            pass


def mask_for_logging(guards: list[CustomGuardrail], record: dict[str, Any]) -> dict[str, Any]:
    """``logging_only`` guardrails: a copy of a request or answer with their finds
    masked, for what sinks and logs keep. The call itself is untouched."""
    import copy

    from .setup import is_text_guardrail

    masking = [g for g in guards
               if g.runs_in("logging_only") and is_text_guardrail(g) and not getattr(g, "remote", False)]
    if not masking:
        return record
    record = copy.deepcopy(record)
    for g in masking:
        for slots in (request_slots(record), response_slots(record)):
            for container, key in list(slots):
                spans = g.find(container[key])
                if spans:
                    container[key] = g.mask(container[key], spans)
    return record
