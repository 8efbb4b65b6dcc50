"""The Router: LiteLLM's ``Router(model_list=[...], **settings)``.

Deployments sharing a ``model_name`` form a group. For each call the router
picks a healthy deployment of the group (not cooling down, under its
rpm/tpm), calls it through the same core as ``polyrelay.acompletion``,
retries what is worth retrying on another pick, and, when the group fails,
walks the configured fallbacks. What it measures (in-flight counts,
latencies, per-minute usage, failures, cooldowns) lives in a ``State``:
in-process, or Redis so several processes share it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

from .. import _sync, api, mocking, tokens
from ..errors import (
    BadRequestError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    PolyrelayError,
    RateLimitError,
    retry_after_seconds,
    should_retry,
)
from ..providers.base import CHAT, EMBEDDING, MODERATION, TEXT
from ..streaming import CompletionStream
from .caller import NOT_SHAPED, CallerShape, caller_shape, callers_fault
from .deployment import Deployment
from .policies import AllowedFailsPolicy, ClassTable, RetryPolicy, as_policy
from .state import MemoryState, State, make_state
from .strategies import STRATEGIES, STRATEGY_READS, Stats
from .surface import RouterSurface
from .table import DeploymentTable, Target, parse_aliases

log = logging.getLogger("polyrelay.router")

DEFAULT_NUM_RETRIES = 2  # what LiteLLM's Router does when not told
DEFAULT_ALLOWED_FAILS = 3
DEFAULT_COOLDOWN_SECONDS = 5.0
DEFAULT_MAX_FALLBACKS = 5  # LiteLLM's default
# Errors that mean "this deployment is unusable for now", whatever the count.
COOL_AT_ONCE = frozenset({401, 404, 429})
# With the state in Redis, a group routed on cooldowns alone (no rpm/tpm limits, a strategy
# that reads nothing else) reads them at most this often: one Redis round trip a call saved.
# A cooldown this process starts is seen at once; one started by another instance within this.
SHARED_COOLDOWN_READ_SECONDS = 1.0
LATENCY_WEIGHT = 0.3  # weight of the newest sample in the moving average
_STATS_KEYS = ("cool", "busy", "lat", "rpm", "tpm")
_KNOWN_SETTINGS = frozenset({
    "routing_strategy", "num_retries", "timeout", "stream_timeout", "allowed_fails", "cooldown_time", "fallbacks",
    "context_window_fallbacks", "content_policy_fallbacks", "default_fallbacks", "redis_host", "redis_port",
    "redis_password", "redis_url", "routing_strategy_args", "retry_after", "set_verbose", "debug_level",
    "cache_responses", "enable_pre_call_checks", "model_group_alias", "max_fallbacks", "retry_policy",
    "allowed_fails_policy", "disable_cooldowns", "seed", "model_group_retry_policy",
})


def _minute() -> int:
    return int(time.time() // 60)


_STATE_PREFIX = {"cool": "cool", "busy": "busy", "latency": "lat", "rpm": "rpm", "tpm": "tpm"}


def _state_key(signal: str, deployment_id: str, minute: int | None = None) -> str:
    """The state key of one signal of one deployment; per-minute counters carry the minute."""
    prefix = _STATE_PREFIX[signal]
    if signal in ("rpm", "tpm"):
        return f"{prefix}:{deployment_id}:{minute}"
    return f"{prefix}:{deployment_id}"


def _fallback_map(value: Any) -> dict[str, list[str]]:
    """``[{"group-a": ["group-b"]}, ...]`` (LiteLLM's shape) as a dict."""
    merged: dict[str, list[str]] = {}
    for item in value or []:
        if isinstance(item, dict):
            for group, targets in item.items():
                merged.setdefault(str(group), []).extend([targets] if isinstance(targets, str) else list(targets))
    return merged


class Router(RouterSurface):
    def __init__(self, model_list: list[dict[str, Any]] | None = None, *, routing_strategy: str = "simple-shuffle",
                 num_retries: int | None = None, timeout: float | None = None, stream_timeout: float | None = None,
                 allowed_fails: int | None = None, cooldown_time: float | None = None,
                 fallbacks: list | None = None, context_window_fallbacks: list | None = None,
                 content_policy_fallbacks: list | None = None, default_fallbacks: list[str] | None = None,
                 routing_strategy_args: dict[str, Any] | None = None, retry_after: float = 0.0,
                 disable_cooldowns: bool = False, state: State | None = None, seed: int | None = None,
                 model_group_alias: dict[str, Any] | None = None, enable_pre_call_checks: bool = False,
                 retry_policy: RetryPolicy | dict[str, Any] | None = None,
                 model_group_retry_policy: dict[str, RetryPolicy | dict[str, Any]] | None = None,
                 allowed_fails_policy: AllowedFailsPolicy | dict[str, Any] | None = None,
                 max_fallbacks: int | None = None, **settings: Any) -> None:
        for name in settings:
            if name not in _KNOWN_SETTINGS:
                log.warning("Router: setting %r is not used by polyrelay; ignored", name)
        if routing_strategy not in STRATEGIES:
            raise BadRequestError(f"routing_strategy must be one of {', '.join(STRATEGIES)}; got {routing_strategy!r}")
        self.model_group_alias = parse_aliases(model_group_alias)
        self.enable_pre_call_checks = bool(enable_pre_call_checks)
        self._set_table([Deployment.from_entry(entry) for entry in model_list or []])
        self.routing_strategy = routing_strategy
        self._pick = STRATEGIES[routing_strategy]
        self._reads = STRATEGY_READS[routing_strategy]
        self._strategy_args = dict(routing_strategy_args or {})
        self.num_retries = DEFAULT_NUM_RETRIES if num_retries is None else int(num_retries)
        self.timeout, self.stream_timeout = timeout, stream_timeout
        self.allowed_fails = DEFAULT_ALLOWED_FAILS if allowed_fails is None else int(allowed_fails)
        self.cooldown_time = DEFAULT_COOLDOWN_SECONDS if cooldown_time is None else float(cooldown_time)
        self.disable_cooldowns = disable_cooldowns
        self.retry_after = float(retry_after)
        self.fallbacks = _fallback_map(fallbacks)
        self.context_window_fallbacks = _fallback_map(context_window_fallbacks)
        self.content_policy_fallbacks = _fallback_map(content_policy_fallbacks)
        self.default_fallbacks = list(default_fallbacks or [])
        self.max_fallbacks = DEFAULT_MAX_FALLBACKS if max_fallbacks is None else int(max_fallbacks)
        if self.max_fallbacks < 0:
            raise BadRequestError(f"max_fallbacks must be at least 0; got {max_fallbacks}")
        # Policies flattened once: a failure then costs a few isinstance checks.
        self.retry_policy = as_policy(RetryPolicy, retry_policy, "retry_policy")
        self.allowed_fails_policy = as_policy(AllowedFailsPolicy, allowed_fails_policy, "allowed_fails_policy")
        self._retries = ClassTable(self.retry_policy, "Retries")
        self._allowed_fails = ClassTable(self.allowed_fails_policy, "AllowedFails")
        self._group_retries = {
            str(group): ClassTable(as_policy(RetryPolicy, policy, f"model_group_retry_policy.{group}"), "Retries")
            for group, policy in (model_group_retry_policy or {}).items()}
        self.state = state or make_state(settings)
        self._cooldown_reads: dict[tuple[str, ...], tuple[float, list]] | None = (
            None if isinstance(self.state, MemoryState) else {})
        self._rng = random.Random(seed)
        self._tasks: set[asyncio.Task] = set()

    def _set_table(self, deployments: list[Deployment]) -> None:
        """(Re)build the lookup table: at start and whenever the model list changes."""
        self._table = DeploymentTable(deployments, self.model_group_alias)
        # Context windows are looked up once here (catalogue reads), not per call.
        self._context_limits = ({d.id: d.max_input_tokens() for d in deployments}
                                if self.enable_pre_call_checks else {})

    async def cooling(self) -> set[str]:
        """Ids of the deployments cooling down right now (in any process sharing the state)."""
        deployments = self._table.deployments
        values = await self.state.get_many([_state_key("cool", d.id) for d in deployments])
        return {d.id for d, value in zip(deployments, values) if value}

    # -- the calls ----------------------------------------------------------------------------------

    async def acompletion(self, model: str, messages: list[dict[str, Any]] | None = None, **kwargs: Any):
        return await self._route(CHAT, model, {"messages": messages}, kwargs)

    async def atext_completion(self, model: str, prompt: Any = None, **kwargs: Any):
        return await self._route(TEXT, model, {"prompt": prompt}, kwargs)

    async def aembedding(self, model: str, input: Any = None, **kwargs: Any):
        return await self._route(EMBEDDING, model, {"input": input}, kwargs)

    async def amoderation(self, input: Any, model: str | None = None, **kwargs: Any):
        if model is None or not self.has_group(model):
            return await api.amoderation(input, model=model, **kwargs)
        return await self._route(MODERATION, model, {"input": input}, kwargs)

    async def aimage_generation(self, prompt: str | None = None, model: str | None = None, **kwargs: Any):
        return await self._route("image_generation", model or "", {"prompt": prompt}, kwargs)

    async def arerank(self, model: str, query: str | None = None, documents: list[Any] | None = None, **kwargs: Any):
        kwargs.setdefault("return_documents", True)  # LiteLLM's default
        return await self._route("rerank", model, {"query": query, "documents": documents}, kwargs)

    async def atranscription(self, model: str, file: Any = None, **kwargs: Any):
        from ..media.audio import AudioFile  # read once: every retry and fallback sends the same bytes

        return await self._route("transcription", model, {"file": AudioFile(file)}, kwargs)

    async def aspeech(self, model: str, input: str | None = None, voice: str | None = None, **kwargs: Any):
        return await self._route("speech", model, {"input": input, "voice": voice}, kwargs)

    def speech(self, model: str, input: str | None = None, voice: str | None = None, **kwargs: Any):
        async def read():
            response = await self.aspeech(model, input, voice, **kwargs)
            await response.aread()
            return response

        return _sync.run(read())

    def transcription(self, model: str, file: Any = None, **kwargs: Any):
        return _sync.run(self.atranscription(model, file, **kwargs))

    def image_generation(self, prompt: str | None = None, model: str | None = None, **kwargs: Any):
        return _sync.run(self.aimage_generation(prompt, model, **kwargs))

    def rerank(self, model: str, query: str | None = None, documents: list[Any] | None = None, **kwargs: Any):
        return _sync.run(self.arerank(model, query, documents, **kwargs))

    def completion(self, model: str, messages: list[dict[str, Any]] | None = None, **kwargs: Any):
        return api.sync_result(_sync.run(self.acompletion(model, messages, **kwargs)))

    def text_completion(self, model: str, prompt: Any = None, **kwargs: Any):
        return api.sync_result(_sync.run(self.atext_completion(model, prompt, **kwargs)))

    def embedding(self, model: str, input: Any = None, **kwargs: Any):
        return _sync.run(self.aembedding(model, input, **kwargs))

    def moderation(self, input: Any, model: str | None = None, **kwargs: Any):
        return _sync.run(self.amoderation(input, model, **kwargs))

    # -- routing --------------------------------------------------------------------------------------

    async def _route(self, kind: str, model: str, payload: dict[str, Any], kwargs: dict[str, Any]):
        user_config = kwargs.pop("user_config", None)
        if user_config:
            # A whole router config for this one request: its own deployments,
            # retries and fallbacks, and its own state, so nothing leaks between callers.
            return await Router(**user_config)._route(kind, model, payload, kwargs)
        num_retries = kwargs.pop("num_retries", None)
        num_retries = self.num_retries if num_retries is None else int(num_retries)
        request_fallbacks = kwargs.pop("fallbacks", None)
        # The gateway names the groups a caller's key may reach: a fallback
        # outside them is skipped, never a way around the key's model list.
        allowed = kwargs.pop("allowed_model_groups", None)
        # LiteLLM's fallback drill: the asked-for group fails at once and its
        # fallbacks run for real (the flag is not passed on to them).
        drill = kwargs.pop("mock_testing_fallbacks", None) is True
        shape = caller_shape(kwargs)
        try:
            if drill:
                raise mocking.fallback_drill_error(model)
            return await self._try_group(kind, model, payload, kwargs, num_retries, shape)
        except PolyrelayError as exc:
            chain = self._fallbacks_for(model, exc, request_fallbacks)
            if allowed is not None:
                chain = [group for group in chain if group in allowed]
            chain = chain[:self.max_fallbacks]
            if not chain:
                raise
            last = exc
            for group in chain:
                if not self.has_group(group):
                    log.warning("Router: fallback group %r does not exist; skipped", group)
                    continue
                try:
                    response = await self._try_group(kind, group, payload, kwargs, num_retries, shape)
                except PolyrelayError as failure:
                    last = failure
                    continue
                response._hidden_params["fallback_from"] = model
                return response
            raise last from None

    def _fallbacks_for(self, model: str, exc: PolyrelayError, request_fallbacks: Any) -> list[str]:
        if isinstance(exc, ContextWindowExceededError):
            return self.context_window_fallbacks.get(model, [])
        if isinstance(exc, ContentPolicyViolationError):
            return self.content_policy_fallbacks.get(model, [])
        if isinstance(exc, BadRequestError) and exc.status_code == 400:
            return []  # the request itself is wrong: another model will not fix it
        if request_fallbacks:
            if all(isinstance(f, str) for f in request_fallbacks):
                return list(request_fallbacks)
            return _fallback_map(request_fallbacks).get(model, [])
        return self.fallbacks.get(model) or self.default_fallbacks

    async def _try_group(self, kind: str, model: str, payload: dict[str, Any], kwargs: dict[str, Any],
                         num_retries: int, shape: CallerShape = NOT_SHAPED):
        target = self._table.lookup(model)
        deployments = target.deployments
        if self.enable_pre_call_checks and kind == CHAT and not target.pinned:
            deployments = await self._fitting(target.name, deployments, payload.get("messages"))
        retries = self._group_retries.get(target.name) or self._retries
        failed: set[str] | None = None  # deployments that failed this call (order moves past them)
        last: PolyrelayError | None = None
        attempt = 0
        while True:
            try:
                deployment = await self._choose(target, deployments, failed)
            except RateLimitError:
                if last is not None:
                    raise last from None  # the real failure says more than "none left"
                raise
            try:
                return await self._call(deployment, kind, payload, kwargs, shape)
            except PolyrelayError as exc:
                exc.num_retries = attempt
                exc.model_id = deployment.id  # which deployment failed, for metrics and logs
                await self._failed(deployment, exc, shape)
                # A retry policy's count for this error class replaces num_retries,
                # even for errors not retried by default (LiteLLM's meaning).
                allowed = retries.get(exc) if retries else None
                if allowed is None:
                    allowed = num_retries if should_retry(exc) else 0
                if attempt >= allowed:
                    raise
                last = exc
                if target.ordered:
                    failed = (failed or set()) | {deployment.id}
                await asyncio.sleep(self._wait(exc, attempt, len(deployments)))
                attempt += 1

    async def _fitting(self, group: str, deployments: list[Deployment], messages: Any) -> list[Deployment]:
        """``enable_pre_call_checks``: the deployments whose context window
        holds the messages. None fit: a ContextWindowExceededError, so
        context_window_fallbacks apply."""
        limits = [self._context_limits.get(d.id) for d in deployments]
        known = [limit for limit in limits if limit is not None]
        if not messages or not known or _most_tokens(messages) <= min(known):
            return deployments  # fits everywhere for sure: no tokenizing
        model = str(deployments[0].params["model"])
        await tokens.preload(model)
        needed = tokens.token_counter(model=model, messages=messages)
        fitting = [d for d, limit in zip(deployments, limits) if limit is None or needed <= limit]
        if not fitting:
            raise ContextWindowExceededError(
                f"The messages ({needed} tokens) do not fit the context window of any deployment of "
                f"{group!r} (largest {max(limit for limit in limits if limit is not None)} tokens).",
                model=group, param="messages")
        return fitting

    def _wait(self, exc: PolyrelayError, attempt: int, group_size: int) -> float:
        asked = retry_after_seconds(exc)
        if asked is not None:
            return max(asked, self.retry_after)
        if group_size > 1:
            return self.retry_after  # another deployment can take it now
        return max(self.retry_after, min(8.0, 0.5 * 2**attempt) * (0.5 + self._rng.random() / 2))

    def _tracks(self, deployment: Deployment, signal: str) -> bool:
        """Whether the router keeps ``signal`` for ``deployment``: what its
        strategy reads, plus rpm/tpm wherever a limit is set."""
        if signal in self._reads:
            return True
        return (signal == "rpm" and deployment.rpm is not None) or (signal == "tpm" and deployment.tpm is not None)

    async def _stats(self, deployments: list[Deployment]) -> list[Stats]:
        """One state read for the whole group: cooldowns always, the rest as tracked."""
        minute = _minute()
        keys: list[str] = []
        wanted: list[tuple[str, ...]] = []
        for d in deployments:
            signals = ("cool", *(s for s in ("busy", "latency", "rpm", "tpm") if self._tracks(d, s)))
            wanted.append(signals)
            keys.extend(_state_key(s, d.id, minute) for s in signals)
        values = iter(await self._read_stats(keys, cooldowns_only=len(keys) == len(deployments)))
        out = []
        for signals in wanted:
            got = dict(zip(signals, values))
            out.append(Stats(in_flight=got.get("busy") or 0.0, latency=got.get("latency"),
                             rpm_used=got.get("rpm") or 0.0, tpm_used=got.get("tpm") or 0.0,
                             cooling=bool(got["cool"])))
        return out

    async def _read_stats(self, keys: list[str], cooldowns_only: bool) -> list:
        if self._cooldown_reads is None or not cooldowns_only:
            return await self.state.get_many(keys)
        now, ident = time.monotonic(), tuple(keys)
        cached = self._cooldown_reads.get(ident)
        if cached is not None and cached[0] > now:
            return cached[1]
        values = await self.state.get_many(keys)
        if len(self._cooldown_reads) >= 10_000:  # groups x model-list versions: bounded all the same
            self._cooldown_reads.clear()
        self._cooldown_reads[ident] = (now + SHARED_COOLDOWN_READ_SECONDS, values)
        return values

    async def _choose(self, target: Target, deployments: list[Deployment], failed: set[str] | None) -> Deployment:
        if target.pinned:
            # Called by its model_info.id: that deployment, cooling or not (as LiteLLM does).
            chosen = deployments[0]
            if self._tracks(chosen, "rpm"):
                await self.state.incr(_state_key("rpm", chosen.id, _minute()), 1, 120)
            return chosen
        model = target.name
        stats = await self._stats(deployments)
        healthy, healthy_stats, cooling, limited = [], [], 0, 0
        for deployment, stat in zip(deployments, stats):
            if stat.cooling:
                cooling += 1
            elif (deployment.rpm is not None and stat.rpm_used >= deployment.rpm) or (
                    deployment.tpm is not None and stat.tpm_used >= deployment.tpm):
                limited += 1
            else:
                healthy.append(deployment)
                healthy_stats.append(stat)
        if not healthy:
            why = []
            if cooling:
                why.append(f"{cooling} cooling down after failures (cooldown {self.cooldown_time:g}s)")
            if limited:
                why.append(f"{limited} at their rpm/tpm limit for this minute")
            raise RateLimitError(f"No deployments available for model group {model!r}: {'; '.join(why)}. "
                                 "Try again shortly.", model=model, headers={"retry-after": "1"})
        if target.ordered:
            healthy, healthy_stats = _lowest_order(healthy, healthy_stats, failed)
        if len(healthy) == 1:
            chosen = healthy[0]
        else:
            chosen = self._pick(healthy, healthy_stats, self._rng, **self._strategy_args)
        if self._tracks(chosen, "rpm"):
            await self.state.incr(_state_key("rpm", chosen.id, _minute()), 1, 120)
        return chosen

    async def _call(self, deployment: Deployment, kind: str, payload: dict[str, Any], kwargs: dict[str, Any],
                    shape: CallerShape = NOT_SHAPED):
        call_kwargs = {**deployment.call_params, **kwargs}
        model = call_kwargs.pop("model")
        call_kwargs["num_retries"] = 0  # the router retries, on a fresh pick
        call_kwargs["model_id"] = deployment.id
        call_kwargs["model_group"] = deployment.model_name  # for the logging payload
        stream = bool(call_kwargs.get("stream"))
        if "timeout" not in kwargs:
            chosen_timeout = (self.stream_timeout if stream else None) or deployment.params.get("timeout") or self.timeout
            if chosen_timeout is not None:
                call_kwargs["timeout"] = chosen_timeout
        busy = self._tracks(deployment, "busy")
        if busy:
            await self.state.incr(_state_key("busy", deployment.id), 1, 600)
        started = time.perf_counter()
        try:
            result = await api._execute(kind, model, payload, call_kwargs)
            if isinstance(result, CompletionStream):
                await result.prefetch()  # a stream failing before its first chunk fails here, retryably
        except BaseException:
            if busy:
                await self.state.incr(_state_key("busy", deployment.id), -1, 600)
            raise
        if isinstance(result, CompletionStream):
            result.add_done_callback(lambda stream, error: self._stream_done(deployment, stream, error, started,
                                                                             shape))
            return result
        await self._succeeded(deployment, time.perf_counter() - started, result.get("usage"), shape)
        return result

    # -- what the router learns ---------------------------------------------------------------------

    async def _succeeded(self, deployment: Deployment, seconds: float, usage: Any,
                         shape: CallerShape = NOT_SHAPED) -> None:
        if self._tracks(deployment, "busy"):
            await self.state.incr(_state_key("busy", deployment.id), -1, 600)
        # A call the caller shaped (its endpoint, its mock_delay) says nothing about this deployment's speed.
        if self._tracks(deployment, "latency") and not shape.owned:
            key = _state_key("latency", deployment.id)
            (previous,) = await self.state.get_many([key])
            latency = seconds if previous is None else previous + LATENCY_WEIGHT * (seconds - previous)
            await self.state.set(key, latency, 3600)
        tokens_used = (usage.get("total_tokens") if isinstance(usage, dict) else getattr(usage, "total_tokens", 0)) or 0
        if tokens_used and self._tracks(deployment, "tpm"):
            await self.state.incr(_state_key("tpm", deployment.id, _minute()), tokens_used, 120)

    def _stream_done(self, deployment: Deployment, stream: CompletionStream, error: BaseException | None,
                     started: float, shape: CallerShape = NOT_SHAPED) -> None:
        first = stream.first_chunk_ms / 1000 if stream.first_chunk_ms is not None else time.perf_counter() - started

        async def settle() -> None:
            if error is None or isinstance(error, (GeneratorExit, asyncio.CancelledError)):
                await self._succeeded(deployment, first, stream.usage, shape)
            else:
                if self._tracks(deployment, "busy"):
                    await self.state.incr(_state_key("busy", deployment.id), -1, 600)
                if isinstance(error, PolyrelayError):
                    await self._failed(deployment, error, shape)

        try:
            task = asyncio.get_running_loop().create_task(settle())
        except RuntimeError:
            return  # no loop (interpreter shutdown): nothing left to record into
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _failed(self, deployment: Deployment, exc: PolyrelayError, shape: CallerShape = NOT_SHAPED) -> None:
        if shape is not NOT_SHAPED and callers_fault(shape, exc, deployment.params.get("timeout") or self.timeout):
            # The caller's credentials, endpoint, timeout or mock options failed, not the
            # deployment: marked so the gateway's health gauge leaves it alone too.
            exc.callers_fault = True
            return
        if self.disable_cooldowns:
            return
        allowed = self._allowed_fails.get(exc) if self._allowed_fails else None
        if allowed is None:
            if not (should_retry(exc) or exc.status_code in COOL_AT_ONCE):
                return  # the caller's mistake (bad request, content policy): the deployment is fine
            if exc.status_code in COOL_AT_ONCE:
                await self._cool(deployment, exc)
                return
            allowed = self.allowed_fails
        fails = await self.state.incr(f"fails:{deployment.id}:{_minute()}", 1, 120)
        if fails > allowed:
            await self._cool(deployment, exc)

    async def _cool(self, deployment: Deployment, exc: PolyrelayError) -> None:
        log.info("Router: cooling down deployment %s of %r for %gs after %s", deployment.id,
                 deployment.model_name, self.cooldown_time, type(exc).__name__)
        await self.state.set(_state_key("cool", deployment.id), 1, self.cooldown_time)
        if self._cooldown_reads:
            self._cooldown_reads.clear()  # this process routes around it from the next call


_PLAIN_MESSAGE_KEYS = frozenset({"role", "content"})


def _most_tokens(messages: Any) -> float:
    """An upper bound on the prompt's tokens (every token is at least one byte),
    so most prompts skip the tokenizer. Anything unusual: infinity (count it)."""
    total = 3
    for message in messages:
        if not isinstance(message, dict) or message.keys() - _PLAIN_MESSAGE_KEYS:
            return float("inf")  # objects, tool calls, names...: let the tokenizer count them
        content = message.get("content")
        if not isinstance(content, str):
            return float("inf")  # images and other parts are not counted by their bytes
        total += 8 + len(content.encode())
    return total


def _lowest_order(healthy: list[Deployment], stats: list[Stats],
                  failed: set[str] | None) -> tuple[list[Deployment], list[Stats]]:
    """``order``: the healthy deployments with the lowest order (those without
    one come last); ones that already failed this call step aside while
    others remain."""
    pairs = list(zip(healthy, stats))
    if failed:
        pairs = [p for p in pairs if p[0].id not in failed] or pairs
    lowest = min(_order_key(d) for d, _ in pairs)
    kept = [p for p in pairs if _order_key(p[0]) == lowest]
    return [d for d, _ in kept], [s for _, s in kept]


def _order_key(deployment: Deployment) -> float:
    return float("inf") if deployment.order is None else deployment.order
