"""What a call cost, from its usage and the model catalogue.

One formula for every provider, because usage is normalised first
(usage.py): ``prompt_tokens`` counts every input token, cached ones
included (OpenAI's definition), ``prompt_tokens_details.cached_tokens``
says how many were read from the provider's cache, and Anthropic-style
``cache_creation_input_tokens`` how many were written to it::

    prompt cost     = (prompt - cache reads - cache writes) * input price
                      + cache reads * cache read price + cache writes * cache write price
    completion cost = completion tokens * output price

A model with no published cache price has its cache reads (and writes)
priced as ordinary input. Anthropic's 1-hour cache writes (reported in
``usage.cache_creation``) use ``cache_creation_input_token_cost_above_1hr``. Prices come from the catalogue, then from a
deployment's registered entry (Router ``model_id``), then from per-call
arguments (``input_cost_per_token=...`` or the same keys in
``model_info``), each overriding the one before. Arithmetic is decimal on
the published per-token figures, rounded once to a float at the end.

On the request path (``response_cost``) accounting never fails a call: a
model the catalogue does not know costs 0.0 and is reported once, as a
warning on the ``polyrelay`` logger. The public functions a caller uses
directly (``cost_per_token``, ``completion_cost``, and ``metadata.get_model_info``)
raise ``NotFoundError`` for such a model instead, as LiteLLM's do.
"""

from __future__ import annotations

import functools
import logging
import math
from decimal import Decimal
from collections.abc import Mapping
from typing import Any, NamedTuple

from . import tokens
from . import usage_checks
from .catalog import CATALOG, ENV_VAR
from .errors import NotFoundError
from .providers.base import Call

logger = logging.getLogger("polyrelay")

PRICE_FIELDS = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "input_cost_per_request",
)
# Prompt sizes past which some providers bill the whole request at other rates
# (Gemini 1.5 above 128K, Gemini 2.5 Pro and Claude Sonnet 4 above 200K, GPT-5.4
# above 272K, ...: the thresholds LiteLLM's price map names), largest first.
LONG_CONTEXT_LIMITS = (512_000, 272_000, 256_000, 200_000, 128_000, 100_000, 32_000)
# OpenAI's service tiers with their own prices (``input_cost_per_token_flex``, ...).
SERVICE_TIERS = ("flex", "priority")
# Providers whose usage carries the call's cost in USD (OpenRouter's ``usage.cost``):
# what the provider billed is the truth, the catalogue only an estimate of it.
REPORTED_COST_PROVIDERS = frozenset({"openrouter"})
# A count more than this many times the model's context window is a provider bug, not a bill.
ABSURD_OVER_CONTEXT = 2
MOCK_PROVIDER = "mock"
_ZERO = Decimal(0)


# ------------------------------------------------------------------ catalogue
def register_model(model_cost: Mapping[str, Any] | str) -> list[str]:
    """LiteLLM's ``register_model``: add models or change prices, e.g.
    ``register_model({"my-model": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6,
    "litellm_provider": "openai", "mode": "chat"}})``.

    Fields merge into an existing entry the name resolves to (so
    ``{"gpt-4o": {"input_cost_per_token": ...}}`` reprices OpenAI's gpt-4o);
    other names become new entries. A string is a path to a JSON file of the
    same shape. Returns the catalogue keys that changed.
    """
    if isinstance(model_cost, str):
        return CATALOG.load_file(model_cost)
    return CATALOG.merge(model_cost)


def _is_mock(model: str | None, provider: str | None) -> bool:
    return provider == MOCK_PROVIDER or (provider is None and (model or "").startswith(MOCK_PROVIDER + "/"))


def _require(model: str, provider: str | None) -> tuple[str, dict[str, Any]]:
    found = CATALOG.find(model, provider)
    if found is None:
        raise NotFoundError(
            f"This model isn't mapped yet. model={model}, custom_llm_provider={provider}. Add it with "
            f"polyrelay.register_model({{...}}) or a catalogue file named in {ENV_VAR}.",
            model=model or "", llm_provider=provider or "",
        )
    return found


# ------------------------------------------------------------------ usage
def _field(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, (dict, Mapping)):
        return obj.get(name)
    return getattr(obj, name, None)


class Counts(NamedTuple):
    """The token classes a call is billed by; cache reads and writes are part of ``prompt``."""

    prompt: int
    completion: int
    cache_read: int = 0
    cache_write: int = 0
    cache_write_1h: int = 0  # of cache_write: Anthropic's 1-hour cache, dearer than the 5-minute one
    web_searches: int = 0  # Anthropic's server-side web search, billed per use


def usage_counts(usage: Any) -> Counts:
    """The billable token counts in a usage dict or ``Usage`` object."""
    details = _field(usage, "prompt_tokens_details")
    cache_read = _field(details, "cached_tokens")
    if cache_read is None:
        cache_read = _field(usage, "cache_read_input_tokens") or _field(usage, "_cache_read_input_tokens")
    cache_write = (_field(usage, "cache_creation_input_tokens") or _field(usage, "_cache_creation_input_tokens")
                   or _field(details, "cache_creation_tokens"))
    one_hour = _field(_field(usage, "cache_creation"), "ephemeral_1h_input_tokens")
    searches = _field(_field(usage, "server_tool_use"), "web_search_requests")
    prompt, completion = _field(usage, "prompt_tokens"), _field(usage, "completion_tokens")
    billed = _field(usage, "billed_units")  # Cohere: what it charges, without its prompt template
    if billed and (_field(billed, "input_tokens") is not None or _field(billed, "output_tokens") is not None):
        prompt, completion = _field(billed, "input_tokens"), _field(billed, "output_tokens")
    return Counts(int(prompt or 0), int(completion or 0), int(cache_read or 0), int(cache_write or 0),
                  int(one_hour or 0), int(searches or 0))


# ------------------------------------------------------------------ pricing
@functools.lru_cache(maxsize=1024)  # a few hundred distinct prices; parsed once each, not per call
def _dec(value: Any) -> Decimal:
    # str() first: the catalogue's 2.5e-06 means exactly 0.0000025, not the nearest binary float.
    return Decimal(str(value)) if value is not None else _ZERO


_RATE_NAMES = ("input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost",
               "cache_creation_input_token_cost", "cache_creation_input_token_cost_above_1hr")
# (threshold, input-price name above it, every rate name above it), spelt once, not per call.
_LONG_CONTEXT_NAMES = tuple(
    (limit, f"input_cost_per_token_above_{limit // 1000}k_tokens",
     tuple(f"{name}_above_{limit // 1000}k_tokens" for name in _RATE_NAMES))
    for limit in LONG_CONTEXT_LIMITS
)


def _rates(prices: Mapping[str, Any], prompt_tokens: int) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
    """(input, output, cache read, cache write, 1-hour cache write) per-token rates for a prompt of this size."""
    chosen = [prices.get(name) for name in _RATE_NAMES]
    for limit, marker, above in _LONG_CONTEXT_NAMES:
        if prompt_tokens > limit and prices.get(marker) is not None:
            if prices.get(above[4]) is None and chosen[4] is not None and chosen[0]:
                # A long-context 1-hour write rate not listed: the 1-hour premium on the
                # long-context input rate (Anthropic: 2x input at either size), not the short rate.
                chosen[4] = _dec(chosen[4]) * _dec(prices[marker]) / _dec(chosen[0])
            chosen = [prices[a] if prices.get(a) is not None else c for a, c in zip(above, chosen)]
            break
    inp = _dec(chosen[0])
    read, write, write_1h = chosen[2], chosen[3], chosen[4]
    write_rate = inp if write is None else _dec(write)
    return (inp, _dec(chosen[1]), inp if read is None else _dec(read), write_rate,
            write_rate if write_1h is None else _dec(write_1h))


def _price(prices: Mapping[str, Any], counts: Counts) -> tuple[Decimal, Decimal]:
    inp, out, read, write, write_1h_rate = _rates(prices, counts.prompt)
    write_1h = min(counts.cache_write_1h, counts.cache_write)
    uncached = max(counts.prompt - counts.cache_read - counts.cache_write, 0)
    prompt_cost = (uncached * inp + counts.cache_read * read + (counts.cache_write - write_1h) * write
                   + write_1h * write_1h_rate + _dec(prices.get("input_cost_per_request")))
    if counts.web_searches:
        prompt_cost += counts.web_searches * _per_search(prices)
    return prompt_cost, counts.completion * out


def _per_search(prices: Mapping[str, Any]) -> Decimal:
    """The price of one server-side web search: LiteLLM's ``search_context_cost_per_query``
    (one figure per context size; Anthropic's is the same for all, $10 per 1,000)."""
    per_query = prices.get("search_context_cost_per_query")
    if isinstance(per_query, Mapping):
        per_query = per_query.get("search_context_size_medium", next(iter(per_query.values()), None))
    return _dec(per_query) if isinstance(per_query, (int, float, str)) else _ZERO


def tier_prices(prices: Mapping[str, Any], tier: str | None) -> Mapping[str, Any]:
    """The prices of a service tier: ``input_cost_per_token_flex`` stands in for
    ``input_cost_per_token`` and so on; a rate the tier does not list keeps its standard price."""
    if tier not in SERVICE_TIERS:
        return prices
    suffix = "_" + tier
    tiered = {k[: -len(suffix)]: v for k, v in prices.items() if k.endswith(suffix) and v is not None}
    return {**prices, **tiered} if tiered else prices


def with_overrides(entry: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A catalogue entry with custom prices on top. A custom input price scales
    the cache prices the caller did not give by the same factor: a negotiated
    discount applies to cached tokens too, and a cache read never costs more than input."""
    merged = {**entry, **overrides}
    new_input, old_input = overrides.get("input_cost_per_token"), entry.get("input_cost_per_token")
    if new_input is None or not old_input or new_input == old_input:
        return merged
    factor = _dec(new_input) / _dec(old_input)
    for name in ("cache_read_input_token_cost", "cache_creation_input_token_cost",
                 "cache_creation_input_token_cost_above_1hr"):
        if name not in overrides and entry.get(name) is not None:
            merged[name] = float(_dec(entry[name]) * factor)
    return merged


_PRICE_FIELD_SET = frozenset(PRICE_FIELDS)
PRICING_ARGS = frozenset({*PRICE_FIELDS, "model_info", "litellm_params", "base_model", "model_id"})


def pricing_args(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The call arguments the cost step reads, kept for a stream's end."""
    return {k: kwargs[k] for k in PRICING_ARGS if k in kwargs}


def price_overrides(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Per-call prices: the price keys in ``model_info`` / ``litellm_params``, then top-level arguments."""
    found: dict[str, Any] = {}
    for source in (kwargs.get("model_info"), kwargs.get("litellm_params"), kwargs):
        if isinstance(source, (dict, Mapping)):
            for k in source.keys() & _PRICE_FIELD_SET:  # a set intersection: cheap when there are none
                if source[k] is not None:
                    found[k] = source[k]
    return found


def cost_per_token(
    model: str = "",
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    cache_read_input_tokens: int = 0,
    cache_creation_input_tokens: int = 0,
    custom_llm_provider: str | None = None,
    custom_cost_per_token: Mapping[str, Any] | None = None,
    usage_object: Any = None,
    **_: Any,
) -> tuple[float, float]:
    """LiteLLM's ``cost_per_token``: ``(prompt_cost_usd, completion_cost_usd)``.

    ``prompt_tokens`` includes the cache reads and writes given beside it.
    ``usage_object`` (a usage dict or ``Usage``) may stand in for the counts.
    """
    counts = usage_counts(usage_object) if usage_object is not None else Counts(
        _count(prompt_tokens), _count(completion_tokens), _count(cache_read_input_tokens),
        _count(cache_creation_input_tokens))
    prices = _prices_for(model, custom_llm_provider, dict(custom_cost_per_token or {}))
    prompt_cost, completion_cost_ = _price(prices, counts)
    return float(prompt_cost), float(completion_cost_)


def _count(value: Any) -> Any:
    """A token count as given: callers pass floats (10.0) and None as well as ints."""
    if value is None:
        return 0
    if isinstance(value, float):
        return int(value) if value.is_integer() else Decimal(str(value))
    return value


def _prices_for(model: str, provider: str | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """Catalogue prices with overrides on top; raises for an unknown model unless overrides price it.
    The answer is shared between calls: read it, never change it."""
    try:
        key = tuple(sorted(overrides.items()))
        return _cached_prices_for(CATALOG.version, model, provider, key)
    except TypeError:  # an unhashable override value: nothing to share
        return _uncached_prices_for(model, provider, overrides)


@functools.lru_cache(maxsize=1024)
def _cached_prices_for(version: int, model: str, provider: str | None,
                       overrides: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return _uncached_prices_for(model, provider, dict(overrides))


def _uncached_prices_for(model: str, provider: str | None, overrides: dict[str, Any]) -> dict[str, Any]:
    if _is_mock(model, provider):
        return {**dict.fromkeys(PRICE_FIELDS, 0.0), **overrides}
    found = CATALOG.find(model, provider)
    if found is None and overrides:
        return overrides  # a model the catalogue lacks, priced by the caller
    _, entry = found if found is not None else _require(model, provider)
    return with_overrides(entry, overrides) if overrides else dict(entry)


def completion_cost(
    completion_response: Any = None,
    model: str | None = None,
    custom_llm_provider: str | None = None,
    prompt: str = "",
    messages: list[dict[str, Any]] | None = None,
    completion: str = "",
    custom_cost_per_token: Mapping[str, Any] | None = None,
    base_model: str | None = None,
    **_: Any,
) -> float:
    """LiteLLM's ``completion_cost``: the USD cost of a response (chat, text completion,
    embedding, moderation, or one rebuilt by ``stream_chunk_builder``), or of
    ``prompt``/``messages`` and ``completion`` text counted with the model's tokenizer.

    A response polyrelay returned already carries its cost (with any per-call
    prices) in ``_hidden_params["response_cost"]``; that is the answer unless a
    model or prices are given here.
    """
    overrides = dict(custom_cost_per_token or {})
    if completion_response is not None:
        hidden = getattr(completion_response, "_hidden_params", None) or {}
        if not (model or base_model or overrides) and hidden.get("response_cost") is not None:
            return float(hidden["response_cost"])
        # The provider the call went to is known only for the response's own model name.
        provider = custom_llm_provider or (None if (model or base_model) else hidden.get("custom_llm_provider"))
        model = base_model or model or _field(completion_response, "model") or ""
        counts = usage_counts(_field(completion_response, "usage"))
        tier = _field(completion_response, "service_tier")
    else:
        model = base_model or model or ""
        provider = custom_llm_provider
        prompt_tokens = tokens.count_messages(messages, model) if messages else tokens.count_text(prompt, model)
        counts = Counts(prompt_tokens, tokens.count_text(completion, model))
        tier = None
    prompt_cost, completion_cost_ = _price(tier_prices(_prices_for(model, provider, overrides), tier), counts)
    return float(prompt_cost + completion_cost_)


# ------------------------------------------------------------------ request path
def response_cost(call: Call, usage: Mapping[str, Any] | None, kwargs: Mapping[str, Any] | None = None,
                  hidden: Mapping[str, Any] | None = None, answer: Mapping[str, Any] | None = None) -> float:
    """The cost of one finished call, for ``_hidden_params["response_cost"]``. Never raises.

    ``answer`` is the provider's answer (or a stream's last chunk): the model
    it says it ran and the ``service_tier`` it used, both of which can price the call."""
    try:
        return _request_cost(call, usage, kwargs or {}, hidden or {}, answer or {})
    except Exception:  # accounting must not fail a call that succeeded; the log says what broke
        logger.exception("polyrelay: could not price a call to %s/%s; recording cost 0.0", call.provider, call.model)
        return 0.0


def _request_cost(call: Call, usage: Mapping[str, Any] | None, kwargs: Mapping[str, Any],
                  hidden: Mapping[str, Any], answer: Mapping[str, Any]) -> float:
    if usage is not None and call.provider in REPORTED_COST_PROVIDERS:
        billed = _reported_cost(usage)
        if billed is not None:
            return billed
    model_id = hidden.get("model_id") or kwargs.get("model_id")
    model_info = kwargs.get("model_info")
    base_model = kwargs.get("base_model") or (model_info.get("base_model") if isinstance(model_info, dict) else None)
    listed, deployment = _registered_prices(CATALOG.version, call.provider, call.model, base_model, model_id)
    reported = answer.get("model")
    if listed is None and not base_model and isinstance(reported, str) and reported and reported != call.model:
        # A deployment with a name of its own (Azure's "my-prod-gpt"): the upstream says which model ran.
        listed, _ = _registered_prices(CATALOG.version, call.provider, reported, None, None)
    overrides = price_overrides(kwargs)
    if deployment:
        overrides = {**deployment, **overrides}
    if call.provider == MOCK_PROVIDER:
        prices: Mapping[str, Any] = overrides  # mock/ models are free unless priced per call
    elif listed is None and not overrides:
        _warn_unknown(f"{call.provider}/{base_model or call.model}")
        return 0.0
    else:
        prices = with_overrides(listed or {}, overrides) if overrides else listed  # type: ignore[assignment]
    if not prices or usage is None:
        return 0.0
    # The tier the provider says it used (a "priority" request may be served at "default"), else the one asked for.
    tier = answer.get("service_tier") or call.params.get("service_tier")
    counts = _plausible(usage_counts(usage), listed, call.provider)
    prompt_cost, completion_cost_ = _price(tier_prices(prices, tier), counts)
    total = float(prompt_cost + completion_cost_)
    return total if total > 0.0 else 0.0  # a wrong price or count never becomes a refund


def _reported_cost(usage: Mapping[str, Any]) -> float | None:
    """The USD cost the provider put in its usage, if it is a sane number."""
    value = usage.get("cost")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and 0.0 <= number < 1e6 else None


def _plausible(counts: Counts, entry: Mapping[str, Any] | None, provider: str) -> Counts:
    """Counts capped at what the model could have taken: a prompt many times its
    context window is a provider's bug, and one bad answer must not blow a budget."""
    window = entry.get("max_input_tokens") if entry else None
    out_window = entry.get("max_output_tokens") if entry else None
    if isinstance(window, int) and window > 0 and counts.prompt > window * ABSURD_OVER_CONTEXT:
        usage_checks.anomaly(provider, "prompt_over_context", f"prompt_tokens {counts.prompt} > context {window}; "
                           "priced as a full context")
        counts = counts._replace(prompt=window, cache_read=min(counts.cache_read, window),
                                 cache_write=min(counts.cache_write, window))
    if isinstance(out_window, int) and out_window > 0 and counts.completion > out_window * ABSURD_OVER_CONTEXT:
        usage_checks.anomaly(provider, "completion_over_context", f"completion_tokens {counts.completion} > "
                           f"max output {out_window}; priced as a full output")
        counts = counts._replace(completion=out_window)
    return counts


@functools.lru_cache(maxsize=4096)
def _registered_prices(version: int, provider: str, model: str, base_model: str | None,
                       model_id: str | None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(the catalogue entry that prices this call, or None; the prices
    registered for its Router deployment). The same few answers on every
    call, so they are looked up once per catalogue version."""
    deployment = CATALOG.get(str(model_id)) if model_id else None
    registered = {k: deployment[k] for k in PRICE_FIELDS if deployment.get(k) is not None} if deployment else {}
    if provider == MOCK_PROVIDER:
        return None, registered
    found = CATALOG.find(base_model) if base_model else CATALOG.find(model, provider)
    return (found[1] if found else None), registered


@functools.lru_cache(maxsize=4096)
def _warn_unknown(model: str) -> None:
    # Memoised, so each unknown model is reported once per process, not on every call.
    logger.warning(
        "polyrelay: no price for model %s; recording its cost as 0.0. Add it with polyrelay.register_model() "
        "or a catalogue file named in %s, or pass input_cost_per_token/output_cost_per_token.", model, ENV_VAR)
