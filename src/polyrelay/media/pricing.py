"""What an image or a rerank cost: per image (by quality and size), per
search unit, or per token, from ``catalog/media.json`` and the deployment's
own prices.

Prices are looked up by ``base_model`` (a deployment's ``model_info``) when
given, else ``provider/model``; an Azure deployment named like the OpenAI
model (``azure/dall-e-3``) is priced as OpenAI's. A deployment's
``model_info`` / ``litellm_params`` may set ``output_cost_per_image``,
``input_cost_per_query`` or ``input_cost_per_token`` (client requests
cannot: the gateway refuses price-shaped fields). Like cost.py, pricing
never fails a call: an unknown model costs 0.0 with one warning.
"""

from __future__ import annotations

import functools
import json
import logging
from decimal import Decimal
from importlib import resources
from typing import Any, Mapping

logger = logging.getLogger("polyrelay")
OVERRIDE_FIELDS = ("output_cost_per_image", "input_cost_per_query", "input_cost_per_token", "input_cost_per_second",
                   "input_cost_per_character", "input_cost_per_audio_token", "output_cost_per_token")
DEFAULT_QUALITY = {"dall-e-3": "standard", "dall-e-2": "standard", "gpt-image-1": "medium", "titan-image": "standard",
                   "nova-canvas": "standard"}
DEFAULT_SIZE = "1024x1024"


@functools.cache
def _prices() -> dict[str, dict[str, Any]]:
    text = resources.files("polyrelay.catalog").joinpath("media.json").read_text()
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


def _entry(provider: str, model: str, kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    info = kwargs.get("model_info") if isinstance(kwargs.get("model_info"), dict) else {}
    base = kwargs.get("base_model") or info.get("base_model")
    names = [str(base), f"openai/{base}", f"{provider}/{base}"] if base else []
    names += [f"{provider}/{model}", f"openai/{model}" if provider == "azure" else ""]
    prices = _prices()
    found = next((dict(prices[n]) for n in names if n in prices), None)
    overrides = {}
    for source in (info, kwargs.get("litellm_params"), kwargs):
        if isinstance(source, Mapping):
            overrides.update({k: source[k] for k in OVERRIDE_FIELDS if source.get(k) is not None})
    if found is None and not overrides:
        return None
    entry = {**(found or {}), **overrides}
    if "output_cost_per_image" in overrides:
        entry.pop("output_cost_per_image_by_quality_size", None)  # the deployment's flat price wins
    return entry


@functools.cache
def _warn_unknown(name: str) -> None:
    logger.warning("polyrelay: no price for %s; recording its cost as 0.0. Set output_cost_per_image / "
                   "input_cost_per_query / input_cost_per_token in the deployment's model_info.", name)


def image_cost(provider: str, model: str, params: Mapping[str, Any], images: int,
               kwargs: Mapping[str, Any]) -> float:
    """Images made, times the price of one at the requested quality and size."""
    if provider == "mock" and not any(kwargs.get(k) for k in OVERRIDE_FIELDS):
        return 0.0
    entry = _entry(provider, model, kwargs)
    if entry is None:
        _warn_unknown(f"{provider}/{model}")
        return 0.0
    table = entry.get("output_cost_per_image_by_quality_size") or {}
    family = next((f for f in DEFAULT_QUALITY if f in model), "")
    quality = str(params.get("quality") or DEFAULT_QUALITY.get(family, "standard"))
    quality = {"auto": DEFAULT_QUALITY.get(family, "standard")}.get(quality, quality)
    if provider == "bedrock":
        quality = {"hd": "premium", "high": "premium"}.get(quality, quality)
    size = str(params.get("size") or DEFAULT_SIZE)
    per_image = table.get(f"{quality}/{size}", entry.get("output_cost_per_image") or 0)
    return max(0.0, float(Decimal(str(per_image)) * images))


def rerank_cost(provider: str, model: str, billed: Mapping[str, Any], kwargs: Mapping[str, Any]) -> float:
    """Search units times the per-query price, or billed tokens times the per-token price."""
    if provider == "mock" and not any(kwargs.get(k) for k in OVERRIDE_FIELDS):
        return 0.0
    entry = _entry(provider, model, kwargs)
    if entry is None:
        _warn_unknown(f"{provider}/{model}")
        return 0.0
    cost = Decimal(0)
    if entry.get("input_cost_per_query") is not None:
        cost += Decimal(str(entry["input_cost_per_query"])) * int(billed.get("search_units") or 1)
    if entry.get("input_cost_per_token") is not None:
        cost += Decimal(str(entry["input_cost_per_token"])) * int(billed.get("total_tokens") or 0)
    return max(0.0, float(cost))


def _priced(provider: str, model: str, kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    if provider == "mock" and not any(kwargs.get(k) for k in OVERRIDE_FIELDS):
        return None
    entry = _entry(provider, model, kwargs)
    if entry is None:
        _warn_unknown(f"{provider}/{model}")
    return entry


def transcription_cost(provider: str, model: str, seconds: float | None, usage: Mapping[str, Any] | None,
                       kwargs: Mapping[str, Any]) -> float:
    """Per second of audio (whisper-1), or per token where the provider reports tokens (gpt-4o-transcribe)."""
    entry = _priced(provider, model, kwargs)
    if entry is None:
        return 0.0
    usage = usage or {}
    if usage.get("type") == "tokens" and entry.get("input_cost_per_audio_token") is not None:
        details = usage.get("input_token_details") or {}
        audio = int(details.get("audio_tokens") or usage.get("input_tokens") or 0)
        text = int(details.get("text_tokens") or 0)
        cost = (Decimal(str(entry["input_cost_per_audio_token"])) * audio
                + Decimal(str(entry.get("input_cost_per_token") or 0)) * text
                + Decimal(str(entry.get("output_cost_per_token") or 0)) * int(usage.get("output_tokens") or 0))
        return max(0.0, float(cost))
    per_second = entry.get("input_cost_per_second")
    if per_second is None:
        _warn_unknown(f"{provider}/{model} (no per-second price)")
        return 0.0
    if seconds is None:
        logger.warning("polyrelay: %s/%s did not report the audio's length and the file is not WAV; "
                       "recording this transcription's cost as 0.0", provider, model)
        return 0.0
    return max(0.0, float(Decimal(str(per_second)) * Decimal(str(seconds))))


def speech_cost(provider: str, model: str, characters: int, kwargs: Mapping[str, Any]) -> float:
    """Per character of the input text."""
    entry = _priced(provider, model, kwargs)
    if entry is None:
        return 0.0
    per_char = entry.get("input_cost_per_character")
    if per_char is None:
        _warn_unknown(f"{provider}/{model} (no per-character price)")
        return 0.0
    return max(0.0, float(Decimal(str(per_char)) * characters))
