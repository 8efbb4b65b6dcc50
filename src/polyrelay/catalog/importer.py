"""Bring a LiteLLM price map into the shipped catalogue files, and check it.

Prices are facts published by the providers; LiteLLM's open
``model_prices_and_context_window.json`` collects them for every model it
routes. This module copies, for the providers polyrelay routes, every model
that map lists (chat, completion, embedding, image, audio, rerank,
moderation...) with all of its fields (LiteLLM's names), into the catalogue
file of its provider, and reports what it changed. Run it with
``python scripts/import_litellm_prices.py FILE``.

Rules, so that a refresh is reviewable rather than trusted blindly:

- a field we do not have is added; a model we do not list is added;
- a price both sides list and that differs takes LiteLLM's figure, except
  where ``choose()`` has a reason to keep ours (written in the report);
- every entry written passes ``problems()``: the checks the catalogue test
  runs on every shipped entry (prices are non-negative numbers, a cache read
  costs no more than input, long-context and priority rates are no cheaper
  than the base rate, ...). A LiteLLM field that fails them is left out and
  reported, never shipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# LiteLLM provider name -> the catalogue file (and key prefix) it belongs to.
# Self-hosted routes (ollama, hosted_vllm, lm_studio) have no vendor price.
FILES = {
    "openai": "openai", "text-completion-openai": "openai", "azure": "azure", "azure_text": "azure",
    "anthropic": "anthropic", "gemini": "gemini", "deepseek": "deepseek", "groq": "groq", "mistral": "mistral",
    "cohere": "cohere", "cohere_chat": "cohere", "bedrock": "bedrock", "bedrock_converse": "bedrock",
    "xai": "xai", "together_ai": "together_ai", "fireworks_ai": "fireworks_ai", "openrouter": "openrouter",
    "perplexity": "perplexity", "cerebras": "cerebras", "sambanova": "sambanova", "deepinfra": "deepinfra",
}
# The key prefix each LiteLLM provider's models get in the catalogue.
PREFIXES = {"cohere_chat": "cohere", "bedrock_converse": "bedrock", "azure_text": "azure"}
# LiteLLM's figure for these is off by orders of magnitude from the vendor's page: ours stays.
KEEP_OURS = {
    ("cohere/embed-multilingual-light-v3.0", "input_cost_per_token"):
        "Cohere lists Embed v3 light at $0.10 per 1M tokens; LiteLLM's 1e-4 is $100 per 1M",
}
# Issue 20's hosted providers share one catalogue file, hosted.json.
HOSTED = ("databricks", "cloudflare", "replicate", "sagemaker", "anyscale", "friendliai", "nebius", "novita",
          "lambda_ai", "hyperbolic", "featherless_ai", "nscale", "dashscope", "moonshot", "volcengine", "meta_llama",
          "codestral", "v0", "morph", "aiml", "ovhcloud", "wandb", "heroku", "publicai", "scaleway", "gmi", "crusoe")
FILES.update({name: "hosted" for name in HOSTED})
# Vertex AI's models come under several LiteLLM provider names; one file, one prefix.
VERTEX = ("vertex_ai", "vertex_ai-language-models", "vertex_ai-anthropic_models", "vertex_ai-embedding-models",
          "vertex_ai-mistral_models", "vertex_ai-llama_models", "vertex_ai-ai21_models", "vertex_ai-deepseek_models",
          "vertex_ai-qwen_models", "vertex_ai-openai_models", "vertex_ai-minimax_models", "vertex_ai-moonshot_models",
          "vertex_ai-zai_models")
FILES.update({name: "vertex_ai" for name in VERTEX} | {"watsonx": "watsonx", "azure_ai": "azure_ai"})
PREFIXES.update({name: "vertex_ai" for name in VERTEX})
_COST = re.compile(r"cost")
_TIERED = re.compile(r"^(.*)_(flex|priority)$")
_ABOVE = re.compile(r"^(.*)_above_(\d+)k_tokens$")


def target_key(litellm_key: str, provider: str) -> str:
    prefix = PREFIXES.get(provider, provider)
    return litellm_key if litellm_key.startswith(prefix + "/") else f"{prefix}/{litellm_key}"


def problems(key: str, entry: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What is wrong with one entry's figures, as (field, why): empty when it is consistent."""
    found = []
    for name, value in entry.items():
        if _COST.search(name) and not isinstance(value, (dict, list)) and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            found.append((name, f"{key}: {name}={value!r} is not a price"))
    inp = entry.get("input_cost_per_token")
    read = entry.get("cache_read_input_token_cost")
    if _num(inp) and _num(read) and (read > inp or read == inp > 0):  # equal: no discount, no cache price to list
        found.append(("cache_read_input_token_cost", f"{key}: cache read {read} costs more than input {inp}"))
    write, write_1h = entry.get("cache_creation_input_token_cost"), entry.get("cache_creation_input_token_cost_above_1hr")
    if _num(inp) and _num(write) and write < inp:
        # No vendor sells a cache write below its input price; a 0 there means "not offered" and
        # would make writes free for a provider that one day reports them.
        found.append(("cache_creation_input_token_cost", f"{key}: cache write {write} costs less than input {inp}"))
    if _num(write) and _num(write_1h) and write_1h < write:
        found.append(("cache_creation_input_token_cost_above_1hr",
                      f"{key}: 1-hour cache write {write_1h} is cheaper than the 5-minute one {write}"))
    for name, value in entry.items():
        above = _ABOVE.match(name)
        base = above and entry.get(above.group(1))
        if above and _num(value) and _num(base) and value < base:
            found.append((name, f"{key}: {name}={value} is cheaper than {above.group(1)}={base}"))
        tier = _TIERED.match(name)
        standard = tier and entry.get(tier.group(1))
        if tier and tier.group(2) == "priority" and _num(value) and _num(standard) and value < standard:
            found.append((name, f"{key}: {name}={value} is cheaper than the standard tier's {standard}"))
    for name in ("max_input_tokens", "max_output_tokens", "max_tokens"):
        value = entry.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            found.append((name, f"{key}: {name}={value!r} is not a token count"))
    return found


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def choose(key: str, name: str, ours: Any, theirs: Any, files: Mapping[str, Mapping[str, Any]]) -> tuple[Any, str]:
    """(the value to ship, why) for a field both sides list with different values."""
    if (key, name) in KEEP_OURS:
        return ours, KEEP_OURS[(key, name)]
    if key.startswith("azure/") and _COST.search(name):
        # Azure's global deployments cost what OpenAI charges; its data-zone ones 10% more. The
        # catalogue prices global deployments: the figure that matches OpenAI's is the right one.
        name_at_openai = key.split("/", 1)[1].replace("gpt-35-", "gpt-3.5-")  # Azure drops the dot
        listed = files.get("openai", {})
        openai_entry = listed.get("openai/" + name_at_openai) or listed.get("text-completion-openai/" + name_at_openai)
        if (openai_entry or {}).get(name) == ours:
            return ours, "Azure global price, equal to OpenAI's"
    return theirs, "LiteLLM's price map"


def merge(litellm: Mapping[str, Any], files: dict[str, dict[str, Any]], note: str) -> list[str]:
    """Merge LiteLLM's map into ``files`` (file name -> its JSON object), in place; the report lines."""
    report: list[str] = []
    index = {}  # every key we list, and its LiteLLM spelling, -> (file, key)
    for file, data in files.items():
        for key in data:
            if not key.startswith("_"):
                index[key.lower()] = (file, key)
    for raw_key, fields in litellm.items():
        if not isinstance(fields, Mapping) or raw_key == "sample_spec":
            continue
        provider = fields.get("litellm_provider")
        file = FILES.get(provider or "")
        if file is None:
            continue
        key = target_key(raw_key, provider)
        where = index.get(key.lower())
        data = files.setdefault(file, {})
        if where is None:
            entry = {k: v for k, v in fields.items()}
            if not any(_COST.search(name) for name in entry):
                continue  # a router or preset with no published price: nothing to charge by
            bad = problems(key, entry)
            report.extend(f"left out {why}" for _, why in bad)
            data[key] = _without_bad_fields(entry, bad)
            index[key.lower()] = (file, key)
            report.append(f"added {key}")
            continue
        file, key = where
        entry = files[file][key]
        for name, theirs in fields.items():
            if name not in entry:
                trial = {**entry, name: theirs}
                if len(problems(key, trial)) > len(problems(key, entry)):
                    report.append(f"left out {key}: {name}={theirs!r} (inconsistent with the entry)")
                    continue
                entry[name] = theirs
            elif entry[name] != theirs and _COST.search(name):
                value, why = choose(key, name, entry[name], theirs, files)
                if value != entry[name] and len(problems(key, {**entry, name: value})) > len(problems(key, entry)):
                    value, why = entry[name], "theirs is inconsistent with the entry"
                if value != entry[name]:
                    report.append(f"changed {key}: {name} {entry[name]} -> {value} ({why})")
                    entry[name] = value
                else:
                    report.append(f"kept {key}: {name} {entry[name]} (LiteLLM: {theirs}; {why})")
        bad = problems(key, entry)
        if bad:  # a figure of ours that a corrected price has made inconsistent (a 0 left over, ...)
            report.extend(f"left out {why}" for _, why in bad)
            files[file][key] = _without_bad_fields(entry, bad)
    for data in files.values():
        data["_imported"] = note
    return report


def _without_bad_fields(entry: dict[str, Any], found: list[tuple[str, str]]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in {name for name, _ in found}}
