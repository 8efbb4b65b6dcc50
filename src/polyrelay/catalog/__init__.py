"""The model catalogue: what each model is and what it costs, as data.

The figures live in the JSON files beside this module, one per provider;
each names where its figures come from (``"_source"``) and when
(``"_as_of"``). Keys are ``provider/model`` and the fields are LiteLLM's
(``litellm_provider``, ``mode``, ``max_input_tokens``,
``input_cost_per_token``, ``cache_read_input_token_cost``, ...), so a
LiteLLM price file reads the same way.

Prices change more often than code, so they are refreshed without a code
change: ``POLYRELAY_MODEL_CATALOG=/path/prices.json`` (several paths joined
with ``os.pathsep``) is merged over the shipped files when the catalogue is
first read, and ``merge()`` / ``load_file()`` do the same at run time.
Merging is field by field, so a refresh file may carry only the prices that
moved. LiteLLM's ``model_prices_and_context_window.json`` (bare keys such
as ``gpt-4o``) merges too: each key is matched to our entry first.

Names are resolved here: ``provider/model``, a bare name that belongs to one
provider (``gpt-4o``, ``claude-3-5-sonnet-20240620``, ``command-r``), and a
model with ``custom_llm_provider``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import orjson

from ..providers import _BARE_PREFIXES, ADAPTERS

ENV_VAR = "POLYRELAY_MODEL_CATALOG"
# A LiteLLM-format price map fetched once at first use (see refresh.py); unset, nothing is fetched.
URL_ENV_VAR = "POLYRELAY_MODEL_COST_MAP_URL"
# Shipped files, in the order that decides which provider a bare name
# belongs to when several list it (OpenAI's own before Azure's copy).
BUNDLED = ("openai", "anthropic", "gemini", "deepseek", "groq", "mistral", "cohere", "bedrock", "azure", "xai",
           "together_ai", "fireworks_ai", "perplexity", "cerebras", "sambanova", "deepinfra",
           "vertex_ai", "watsonx", "azure_ai")
# Provider names LiteLLM uses for a route of the same provider, mapped to ours.
PROVIDER_ALIASES = {
    "cohere_chat": "cohere",
    "bedrock_converse": "bedrock",
    "azure_text": "azure",
    "ollama_chat": "ollama",
    # LiteLLM's price map files Vertex AI's models under these.
    "vertex_ai-language-models": "vertex_ai",
    "vertex_ai-anthropic_models": "vertex_ai",
    "vertex_ai-embedding-models": "vertex_ai",
}
# Where else a provider's models may be listed (legacy completions models are
# OpenAI's too; an OpenAI name sent as text-completion-openai is the same model).
SIBLINGS = {"openai": ("text-completion-openai",), "text-completion-openai": ("openai",)}
# Bedrock names may carry a route or a cross-region inference profile in front
# of the model id; those are priced as the model itself.
_BEDROCK_ROUTES = ("converse/", "invoke/")
_BEDROCK_REGIONS = ("us.", "eu.", "apac.", "global.", "jp.", "au.", "us-gov.")
# Issue 20's hosted providers (Databricks, Cloudflare, Replicate, SageMaker, the OpenAI-compatible rows): one file.
BUNDLED += ("hosted",)
# Providers whose models LiteLLM's price map lists by bare name ("gpt-4o",
# "claude-3-5-sonnet-20240620", "anthropic.claude-3-haiku-20240307-v1:0",
# "command-r"); the others it lists as provider/model, as we do.
LITELLM_BARE_KEYS = frozenset({"openai", "text-completion-openai", "anthropic", "bedrock", "cohere"})


def litellm_key(key: str) -> str:
    """A catalogue key as LiteLLM's ``model_cost`` spells it."""
    provider, sep, name = key.partition("/")
    return name if sep and provider in LITELLM_BARE_KEYS else key


class Catalog:
    """Entries by key, with the indexes that resolve the names callers use.

    One instance (``CATALOG``) serves the process; it loads on first use and
    takes a lock only to change, so lookups on the request path stay cheap.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []
        self._reset()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every change (merge, load_file, reload):
        what keeps a copy in step, such as ``polyrelay.model_cost``."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def _reset(self) -> None:
        self._entries: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, str] = {}  # lower-cased key -> key
        self._names: dict[str, str] = {}  # lower-cased bare model name -> first key listing it
        self._providers: set[str] = set()
        self._sources: dict[str, dict[str, Any]] = {}  # file -> its _source/_as_of
        self._loaded = False
        self._version = getattr(self, "_version", 0) + 1

    @property
    def version(self) -> int:
        """Changes whenever an entry does: what caches of lookups key on."""
        self._ensure_loaded()
        return self._version

    # ---------------------------------------------------------------- loading
    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            package = resources.files(__name__)
            for name in BUNDLED:
                # orjson: the shipped files are 1.6 MB, and it parses them in half the time json does.
                data = orjson.loads(package.joinpath(f"{name}.json").read_bytes())
                self._merge(data, f"{name}.json", canonical=True)
            url = os.environ.get(URL_ENV_VAR)
            if url:
                self._merge_remote(url)
            for path in filter(None, os.environ.get(ENV_VAR, "").split(os.pathsep)):
                self._merge(_read(path), path)
            self._loaded = True

    def _merge_remote(self, url: str) -> None:
        """LiteLLM's ``LITELLM_MODEL_COST_MAP_URL``: fresh prices at start, never a reason not to start."""
        from . import refresh  # only when asked for: the fetch and its checks cost nothing otherwise

        try:
            self._merge(refresh.checked(refresh.read_map(url)), url)
        except Exception as exc:  # a price server down or answering garbage: the shipped prices stay
            logging.getLogger("polyrelay").warning(
                "polyrelay: could not load %s from %s (%s); using the shipped model catalogue", URL_ENV_VAR, url, exc)

    def reload(self) -> None:
        """Forget every change and read the shipped files and ``POLYRELAY_MODEL_CATALOG`` again."""
        with self._lock:
            self._reset()
            self._ensure_loaded()
            self._changed()

    def load_file(self, path: str | os.PathLike[str]) -> list[str]:
        """Merge a JSON catalogue file; returns the keys it touched."""
        return self.merge(_read(path), str(path))

    def merge(self, data: Mapping[str, Any], source: str = "register_model") -> list[str]:
        self._ensure_loaded()
        with self._lock:
            touched = self._merge(data, source)
            self._changed()
            return touched

    def _merge(self, data: Mapping[str, Any], source: str, canonical: bool = False) -> list[str]:
        self._version += 1
        self._sources[source] = {k: v for k, v in data.items() if k.startswith("_")}
        touched = []
        for raw_key, fields in data.items():
            if raw_key.startswith("_") or raw_key == "sample_spec" or not isinstance(fields, Mapping):
                continue  # metadata, and LiteLLM's documentation-only entry
            if canonical and raw_key not in self._entries:
                # A shipped file's keys are already ours: resolving each name (what a refresh
                # file needs) would make the first lookup of a process pay for 2,000 searches.
                self._add(raw_key, fields)  # type: ignore[arg-type]
                touched.append(raw_key)
                continue
            key = self._target_key(raw_key, fields.get("litellm_provider"))
            if key in self._entries:
                self._entries[key].update(fields)
            else:
                self._add(key, dict(fields))
            touched.append(key)
        return touched

    def _target_key(self, raw_key: str, provider: str | None) -> str:
        """The key an incoming entry belongs under: an existing entry it names, else a new one."""
        if raw_key in self._entries:
            return raw_key
        existing = self._find(raw_key, provider)
        if existing is not None:
            return existing[0]
        if provider and "/" not in raw_key:
            return f"{PROVIDER_ALIASES.get(provider, provider)}/{raw_key}"
        return raw_key

    def _add(self, key: str, entry: dict[str, Any]) -> None:
        self._entries[key] = entry
        self._keys[key.lower()] = key
        head, sep, name = key.partition("/")
        provider = entry.get("litellm_provider")
        if sep:
            provider = provider or head
            self._names.setdefault(name.lower(), key)
        else:
            self._names.setdefault(key.lower(), key)
        if provider:
            self._providers.add(PROVIDER_ALIASES.get(provider, provider))
            if sep:
                self._providers.add(head)

    # ---------------------------------------------------------------- reading
    def get(self, key: str) -> dict[str, Any] | None:
        """The entry stored under exactly this key (case-insensitive), or None."""
        self._ensure_loaded()
        found = self._keys.get(key.lower())
        return self._entries[found] if found else None

    def keys(self) -> list[str]:
        self._ensure_loaded()
        return list(self._entries)

    def sources(self) -> dict[str, dict[str, Any]]:
        """What was merged, in order: each file (or ``register_model``) with its ``_source`` / ``_as_of``."""
        self._ensure_loaded()
        return dict(self._sources)

    def is_provider(self, name: str) -> bool:
        self._ensure_loaded()
        return self._is_provider(name)

    def _is_provider(self, name: str) -> bool:
        return name in self._providers or name in ADAPTERS or name in PROVIDER_ALIASES

    def find(self, model: str, provider: str | None = None) -> tuple[str, dict[str, Any]] | None:
        """``(key, entry)`` for a model as a caller names it, or None if it is not listed."""
        self._ensure_loaded()
        return self._find(model, provider)

    def _find(self, model: str, provider: str | None) -> tuple[str, dict[str, Any]] | None:
        if not model:
            return None
        if provider:
            return self._find_for_provider(model, provider)
        exact = self._keys.get(model.lower())
        if exact:
            return exact, self._entries[exact]
        head, sep, rest = model.partition("/")
        if sep and self._is_provider(head):
            return self._find_for_provider(rest, head)
        lowered = model.lower()
        for prefix, owner in _BARE_PREFIXES:
            if lowered.startswith(prefix):
                hit = self._find_for_provider(model, owner)
                if hit:
                    return hit
        key = self._names.get(lowered)  # a bare name only one provider's file lists (command-r, ...)
        return (key, self._entries[key]) if key else None

    def _find_for_provider(self, model: str, provider: str) -> tuple[str, dict[str, Any]] | None:
        provider = PROVIDER_ALIASES.get(provider, provider)
        name = model.split("/", 1)[1] if model.lower().startswith(provider.lower() + "/") else model
        for owner in (provider, *SIBLINGS.get(provider, ())):
            for variant in _variants(owner, name):
                key = self._keys.get(f"{owner}/{variant}".lower())
                if key:
                    return key, self._entries[key]
        # A custom name registered without a provider (register_model({"my-model": {...}})).
        key = self._keys.get(name.lower())
        if key and "/" not in key:
            return key, self._entries[key]
        return None


def _variants(provider: str, name: str) -> Iterator[str]:
    """The names a model may be listed under: itself, and for Bedrock without route or region."""
    yield name
    if provider != "bedrock":
        return
    for route in _BEDROCK_ROUTES:
        if name.startswith(route):
            name = name[len(route):]
            yield name
    if name.startswith("arn:") and (":inference-profile/" in name or ":foundation-model/" in name):
        # A system inference profile's or a foundation model's ARN ends with the model id.
        name = name.rsplit("/", 1)[-1]
        yield name
    for region in _BEDROCK_REGIONS:
        if name.startswith(region):
            yield name[len(region):]


def _read(path: str | os.PathLike[str]) -> dict[str, Any]:
    text = str(path)
    if text.startswith(("http://", "https://")):
        # Fetching prices at run time would make cost depend on the network; download the file instead.
        raise ValueError(f"polyrelay reads model catalogues from files, not URLs: download {text} and pass its path")
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{text}: a model catalogue is a JSON object of model name -> fields")
    return data


CATALOG = Catalog()
