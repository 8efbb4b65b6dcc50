"""Whole calls built from ``completion``, as LiteLLM names them:
``batch_completion`` (many conversations, one model),
``batch_completion_models`` (one conversation, many models, the fastest
answer), ``batch_completion_models_all_responses`` (every model's answer),
``completion_with_retries`` and ``acompletion_with_retries``.

The batches run concurrently on the async core (one event loop, no thread
per call); the sync functions wait for them as every sync wrapper does.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import Any, Callable

from . import _sync, api
from .errors import retry_after_seconds

log = logging.getLogger("polyrelay")

DEFAULT_RETRIES = 3  # attempts in all, as LiteLLM's completion_with_retries counts them
MAX_BACKOFF_SECONDS = 10.0


def batch_completion(model: str, messages: list | None = None, functions: list | None = None,
                     function_call: Any = None, temperature: float | None = None, top_p: float | None = None,
                     n: int | None = None, stream: bool | None = None, stop: Any = None,
                     max_tokens: int | None = None, presence_penalty: float | None = None,
                     frequency_penalty: float | None = None, logit_bias: dict | None = None, user: str | None = None,
                     deployment_id: str | None = None, request_timeout: float | None = None,
                     timeout: float | None = 600, max_workers: int | None = 100, **kwargs: Any) -> list:
    """One completion per conversation in ``messages`` (a list of message
    lists), run concurrently. Answers in the same order; a conversation
    that failed has its exception in its place (LiteLLM's behaviour)."""
    named = dict(functions=functions, function_call=function_call, temperature=temperature, top_p=top_p, n=n,
                 stream=stream, stop=stop, max_tokens=max_tokens, presence_penalty=presence_penalty,
                 frequency_penalty=frequency_penalty, logit_bias=logit_bias, user=user, deployment_id=deployment_id,
                 request_timeout=request_timeout, timeout=timeout)
    call_kwargs = {**{k: v for k, v in named.items() if v is not None}, **kwargs}
    limit = asyncio.Semaphore(max(1, int(max_workers or 1))) if max_workers else None

    async def one(conversation: list) -> Any:
        if limit is None:
            return await api.acompletion(model, conversation, **call_kwargs)
        async with limit:
            return await api.acompletion(model, conversation, **call_kwargs)

    async def run_all() -> list:
        return await asyncio.gather(*(one(c) for c in messages or []), return_exceptions=True)

    results = _sync.run(run_all())
    _reraise_interrupts(results)
    return [r if isinstance(r, BaseException) else api.sync_result(r) for r in results]


def batch_completion_models(*args: Any, **kwargs: Any) -> Any:
    """One request to several models at once (``models=[...]``, or
    ``deployments=[{...completion kwargs...}]``); the first answer to
    arrive wins and the others are cancelled. If every model fails, the
    first model's error is raised. None when no model is given."""
    kwargs.pop("model", None)
    calls = _calls_for(kwargs)
    if not calls:
        return None

    async def race() -> Any:
        tasks = [asyncio.ensure_future(api.acompletion(*args, **{**kwargs, **call})) for call in calls]
        try:
            for finished in asyncio.as_completed(tasks):
                try:
                    return await finished
                except Exception as exc:  # this model failed: the next to finish may answer
                    log.debug("batch_completion_models: one model failed (%s); waiting for the others", exc)
            return await tasks[0]  # all failed: raise the first model's error
        finally:
            for task in tasks:
                task.cancel()

    return api.sync_result(_sync.run(race()))


def batch_completion_models_all_responses(*args: Any, **kwargs: Any) -> list:
    """One request to every model in ``models``, concurrently: the answers of
    the models that answered, in the order given (failures are left out)."""
    kwargs.pop("model", None)
    if "models" not in kwargs:
        raise ValueError("batch_completion_models_all_responses needs models=[...]")
    models = kwargs.pop("models")
    if isinstance(models, str):
        models = [models]
    elif not isinstance(models, (list, tuple)):
        raise TypeError("'models' must be a string or a list of strings")

    async def run_all() -> list:
        return await asyncio.gather(*(api.acompletion(*args, model=m, **kwargs) for m in models),
                                    return_exceptions=True)

    results = _sync.run(run_all())
    _reraise_interrupts(results)
    for model, result in zip(models, results):
        if isinstance(result, Exception):
            log.info("batch_completion_models_all_responses: %s failed: %s", model, result)
    return [api.sync_result(r) for r in results if not isinstance(r, BaseException)]


def completion_with_retries(*args: Any, **kwargs: Any) -> Any:
    """``completion`` tried up to ``num_retries`` times in all (default 3),
    whatever the error. ``retry_strategy``: ``"constant_retry"`` (at once,
    the default) or ``"exponential_backoff_retry"`` (1, 2, 4... s, at most
    10, or what the provider's retry-after asks). ``original_function``
    replaces ``completion``."""
    function, attempts, backoff = _retry_settings(kwargs, "completion")
    for attempt in range(attempts):
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            if attempt + 1 >= attempts:
                raise
            wait = _wait(exc, attempt, backoff)
            if wait:
                time.sleep(wait)
    raise AssertionError("unreachable")


async def acompletion_with_retries(*args: Any, **kwargs: Any) -> Any:
    """The async twin of ``completion_with_retries`` (``acompletion`` by default)."""
    function, attempts, backoff = _retry_settings(kwargs, "acompletion")
    for attempt in range(attempts):
        try:
            result = function(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result
        except Exception as exc:
            if attempt + 1 >= attempts:
                raise
            wait = _wait(exc, attempt, backoff)
            if wait:
                await asyncio.sleep(wait)
    raise AssertionError("unreachable")


def _retry_settings(kwargs: dict[str, Any], default: str) -> tuple[Callable[..., Any], int, bool]:
    attempts = kwargs.pop("num_retries", DEFAULT_RETRIES)
    attempts = DEFAULT_RETRIES if attempts is None else max(1, int(attempts))
    strategy = kwargs.pop("retry_strategy", "constant_retry")
    if strategy not in ("constant_retry", "exponential_backoff_retry"):
        raise ValueError(f"retry_strategy must be 'constant_retry' or 'exponential_backoff_retry'; got {strategy!r}")
    # The package's own name, looked up now: a test that patches polyrelay.completion is honoured.
    import polyrelay

    function = kwargs.pop("original_function", None) or getattr(polyrelay, default)
    kwargs["num_retries"] = 0  # the retries happen here, not again inside each attempt
    kwargs["max_retries"] = 0
    return function, attempts, strategy == "exponential_backoff_retry"


def _wait(exc: Exception, attempt: int, backoff: bool) -> float:
    if not backoff:
        return 0.0
    asked = retry_after_seconds(exc)
    return asked if asked is not None else min(MAX_BACKOFF_SECONDS, float(2 ** attempt))


def _calls_for(kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-model keyword arguments of batch_completion_models."""
    if "models" in kwargs:
        models = kwargs.pop("models")
        return [{"model": m} for m in ([models] if isinstance(models, str) else models)]
    if "deployments" in kwargs:
        kwargs.pop("model_list", None)
        nested = kwargs.pop("kwargs", None) or {}
        return [{**dict(d), **nested} for d in kwargs.pop("deployments")]
    return []


def _reraise_interrupts(results: list) -> None:
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result  # cancellation, KeyboardInterrupt: not a per-call failure to hand back
