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
import fnmatch
import logging
import random
import time
from dataclasses import replace
from typing import Any

from .. import _sync, api, mocking
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
from .deployment import Deployment
from .state import State, make_state
from .strategies import STRATEGIES, STRATEGY_READS, Stats

log = logging.getLogger("polyrelay.router")

DEFAULT_NUM_RETRIES = 2  # what LiteLLM's Router does when not told
DEFAULT_ALLOWED_FAILS = 3
DEFAULT_COOLDOWN_SECONDS = 5.0
# Errors that mean "this deployment is unusable for now", whatever the count.
COOL_AT_ONCE = frozenset({401, 404, 429})
LATENCY_WEIGHT = 0.3  # weight of the newest sample in the moving average
_STATS_KEYS = ("cool", "busy", "lat", "rpm", "tpm")
_KNOWN_SETTINGS = frozenset({
    "routing_strategy", "num_retries", "timeout", "stream_timeout", "allowed_fails", "cooldown_time", "fallbacks",
    "context_window_fallbacks", "content_policy_fallbacks", "default_fallbacks", "redis_host", "redis_port",
    "redis_password", "redis_url", "routing_strategy_args", "retry_after", "set_verbose", "debug_level",
    "cache_responses", "enable_pre_call_checks", "model_group_alias", "max_fallbacks", "retry_policy",
    "allowed_fails_policy", "disable_cooldowns", "seed",
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


class Router:
    def __init__(self, model_list: list[dict[str, Any]] | None = None, *, routing_strategy: str = "simple-shuffle",
                 num_retries: int | None = None, timeout: float | None = None, stream_timeout: float | None = None,
                 allowed_fails: int | None = None, cooldown_time: float | None = None,
                 fallbacks: list | None = None, context_window_fallbacks: list | None = None,
                 content_policy_fallbacks: list | None = None, default_fallbacks: list[str] | None = None,
                 routing_strategy_args: dict[str, Any] | None = None, retry_after: float = 0.0,
                 disable_cooldowns: bool = False, state: State | None = None, seed: int | None = None,
                 **settings: Any) -> None:
        for name in settings:
            if name not in _KNOWN_SETTINGS:
                log.warning("Router: setting %r is not used by polyrelay; ignored", name)
        if routing_strategy not in STRATEGIES:
            raise BadRequestError(f"routing_strategy must be one of {', '.join(STRATEGIES)}; got {routing_strategy!r}")
        self.deployments = [Deployment.from_entry(entry) for entry in model_list or []]
        self.model_list = [d.as_entry() for d in self.deployments]
        self._groups: dict[str, list[Deployment]] = {}
        for deployment in self.deployments:
            self._groups.setdefault(deployment.model_name, []).append(deployment)
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
        self.state = state or make_state(settings)
        self._rng = random.Random(seed)
        self._tasks: set[asyncio.Task] = set()

    # -- what is served ---------------------------------------------------------------------------

    @property
    def model_names(self) -> list[str]:
        return list(self._groups)

    def has_group(self, name: str) -> bool:
        return name in self._groups or any(fnmatch.fnmatchcase(name, g) for g in self._groups if "*" in g)

    def get_model_list(self, model_name: str | None = None) -> list[dict[str, Any]]:
        return [d.as_entry() for d in self.deployments if model_name is None or d.model_name == model_name]

    async def cooling(self) -> set[str]:
        """Ids of the deployments cooling down right now (in any process sharing the state)."""
        values = await self.state.get_many([_state_key("cool", d.id) for d in self.deployments])
        return {d.id for d, value in zip(self.deployments, values) if value}

    def group(self, name: str) -> list[Deployment]:
        found = self._groups.get(name)
        if found:
            return found
        for pattern, deployments in self._groups.items():
            # Wildcard groups ("openai/*", "*"): the requested name fills the star.
            if "*" in pattern and fnmatch.fnmatchcase(name, pattern):
                prefix = pattern.split("*", 1)[0]
                rest = name[len(prefix):]
                return [self._for_wildcard(d, rest, name) for d in deployments]
        raise BadRequestError(f"Invalid model name passed in model={name}. Available models: "
                              f"{', '.join(self._groups) or '(none)'}", model=name, param="model")

    @staticmethod
    def _for_wildcard(deployment: Deployment, rest: str, name: str) -> Deployment:
        model = str(deployment.params["model"]).replace("*", rest)
        return replace(deployment, params={**deployment.params, "model": model},
                       call_params={**deployment.call_params, "model": model}, model_name=name)

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
        try:
            if drill:
                raise mocking.fallback_drill_error(model)
            return await self._try_group(kind, model, payload, kwargs, num_retries)
        except PolyrelayError as exc:
            chain = self._fallbacks_for(model, exc, request_fallbacks)
            if allowed is not None:
                chain = [group for group in chain if group in allowed]
            if not chain:
                raise
            last = exc
            for group in chain:
                if not self.has_group(group):
                    log.warning("Router: fallback group %r does not exist; skipped", group)
                    continue
                try:
                    response = await self._try_group(kind, group, payload, kwargs, num_retries)
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
                         num_retries: int):
        deployments = self.group(model)
        last: PolyrelayError | None = None
        for attempt in range(num_retries + 1):
            try:
                deployment = await self._choose(model, deployments)
            except RateLimitError:
                if last is not None:
                    raise last from None  # the real failure says more than "none left"
                raise
            try:
                return await self._call(deployment, kind, payload, kwargs)
            except PolyrelayError as exc:
                exc.num_retries = attempt
                exc.model_id = deployment.id  # which deployment failed, for metrics and logs
                await self._failed(deployment, exc, len(deployments))
                if attempt >= num_retries or not should_retry(exc):
                    raise
                last = exc
                await asyncio.sleep(self._wait(exc, attempt, len(deployments)))
        raise AssertionError("unreachable")

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
        values = iter(await self.state.get_many(keys))
        out = []
        for signals in wanted:
            got = dict(zip(signals, values))
            out.append(Stats(in_flight=got.get("busy") or 0.0, latency=got.get("latency"),
                             rpm_used=got.get("rpm") or 0.0, tpm_used=got.get("tpm") or 0.0,
                             cooling=bool(got["cool"])))
        return out

    async def _choose(self, model: str, deployments: list[Deployment]) -> Deployment:
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
        if len(healthy) == 1:
            chosen = healthy[0]
        else:
            chosen = self._pick(healthy, healthy_stats, self._rng, **self._strategy_args)
        if self._tracks(chosen, "rpm"):
            await self.state.incr(_state_key("rpm", chosen.id, _minute()), 1, 120)
        return chosen

    async def _call(self, deployment: Deployment, kind: str, payload: dict[str, Any], kwargs: dict[str, Any]):
        call_kwargs = {**deployment.call_params, **kwargs}
        model = call_kwargs.pop("model")
        call_kwargs["num_retries"] = 0  # the router retries, on a fresh pick
        call_kwargs["model_id"] = deployment.id
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
            result.add_done_callback(lambda stream, error: self._stream_done(deployment, stream, error, started))
            return result
        await self._succeeded(deployment, time.perf_counter() - started, result.get("usage"))
        return result

    # -- what the router learns ---------------------------------------------------------------------

    async def _succeeded(self, deployment: Deployment, seconds: float, usage: Any) -> None:
        if self._tracks(deployment, "busy"):
            await self.state.incr(_state_key("busy", deployment.id), -1, 600)
        if self._tracks(deployment, "latency"):
            key = _state_key("latency", deployment.id)
            (previous,) = await self.state.get_many([key])
            latency = seconds if previous is None else previous + LATENCY_WEIGHT * (seconds - previous)
            await self.state.set(key, latency, 3600)
        tokens = (usage.get("total_tokens") if isinstance(usage, dict) else getattr(usage, "total_tokens", 0)) or 0
        if tokens and self._tracks(deployment, "tpm"):
            await self.state.incr(_state_key("tpm", deployment.id, _minute()), tokens, 120)

    def _stream_done(self, deployment: Deployment, stream: CompletionStream, error: BaseException | None,
                     started: float) -> None:
        first = stream.first_chunk_ms / 1000 if stream.first_chunk_ms is not None else time.perf_counter() - started

        async def settle() -> None:
            if error is None or isinstance(error, (GeneratorExit, asyncio.CancelledError)):
                await self._succeeded(deployment, first, stream.usage)
            else:
                if self._tracks(deployment, "busy"):
                    await self.state.incr(_state_key("busy", deployment.id), -1, 600)
                if isinstance(error, PolyrelayError):
                    await self._failed(deployment, error, 2)

        try:
            task = asyncio.get_running_loop().create_task(settle())
        except RuntimeError:
            return  # no loop (interpreter shutdown): nothing left to record into
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _failed(self, deployment: Deployment, exc: PolyrelayError, group_size: int) -> None:
        if self.disable_cooldowns or not (should_retry(exc) or exc.status_code in COOL_AT_ONCE):
            return  # the caller's mistake (bad request, content policy): the deployment is fine
        if exc.status_code in COOL_AT_ONCE:
            cool = True
        else:
            fails = await self.state.incr(f"fails:{deployment.id}:{_minute()}", 1, 120)
            cool = fails > self.allowed_fails
        if cool:
            log.info("Router: cooling down deployment %s of %r for %gs after %s", deployment.id,
                     deployment.model_name, self.cooldown_time, type(exc).__name__)
            await self.state.set(_state_key("cool", deployment.id), 1, self.cooldown_time)
