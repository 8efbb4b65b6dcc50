"""LiteLLM's model metadata helpers (metadata.py), used as LiteLLM users use them."""

from __future__ import annotations

import json

import re

import pytest

import polyrelay
import polyrelay as litellm
from polyrelay.catalog import CATALOG
from polyrelay.metadata import SUPPORTS_FLAGS

LITELLM_FIELDS = ("input_cost_per_token", "output_cost_per_token", "max_tokens", "max_input_tokens",
                  "max_output_tokens", "litellm_provider", "mode")


@pytest.fixture(autouse=True)
def shipped_catalogue():
    yield
    CATALOG.reload()  # tests below register models


def test_model_cost_is_the_catalogue_as_litellms_dict():
    cost = litellm.model_cost
    assert isinstance(cost, dict) and len(cost) == len(CATALOG.keys())
    # Keys as LiteLLM spells them: bare for OpenAI, Anthropic, Bedrock, Cohere; provider/ for the rest.
    for key in ("gpt-4o", "claude-3-5-sonnet-20240620", "anthropic.claude-3-haiku-20240307-v1:0", "command-r",
                "azure/gpt-4o", "gemini/gemini-1.5-pro", "deepseek/deepseek-chat", "groq/llama3-8b-8192",
                "mistral/mistral-large-latest", "gpt-3.5-turbo-instruct"):
        assert key in cost, key
        assert all(field in cost[key] for field in LITELLM_FIELDS), key
    assert "openai/gpt-4o" not in cost
    assert cost["gpt-4o"]["cache_read_input_token_cost"] == 1.25e-06
    assert cost["claude-3-5-sonnet-20240620"]["cache_creation_input_token_cost"] == 3.75e-06
    json.dumps(cost)  # a plain dict of plain values, as users serialise it


def test_model_cost_follows_register_model_and_reloads():
    from polyrelay import model_cost  # bound once, as users do

    litellm.register_model({"my-model": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
                                         "litellm_provider": "openai", "mode": "chat"}})
    assert model_cost["my-model"]["output_cost_per_token"] == 2e-06
    litellm.register_model({"gpt-4o": {"input_cost_per_token": 9e-06}})
    assert model_cost["gpt-4o"]["input_cost_per_token"] == 9e-06
    assert model_cost["gpt-4o"]["output_cost_per_token"] == 1e-05  # other fields kept
    CATALOG.reload()
    assert "my-model" not in model_cost and model_cost["gpt-4o"]["input_cost_per_token"] == 2.5e-06


def test_assigning_into_model_cost_registers_the_model():
    litellm.model_cost["house-model"] = {"input_cost_per_token": 3e-06, "output_cost_per_token": 4e-06,
                                         "litellm_provider": "openai", "mode": "chat"}
    assert litellm.cost_per_token(model="house-model", prompt_tokens=1, completion_tokens=1) == (3e-06, 4e-06)
    litellm.model_cost.update({"house-model-2": {"input_cost_per_token": 1e-06, "litellm_provider": "openai",
                                                 "mode": "chat"}})
    assert litellm.get_model_info("house-model-2")["input_cost_per_token"] == 1e-06


def test_model_cost_values_are_copies():
    litellm.model_cost["gpt-4o"]["input_cost_per_token"] = 1.0
    assert CATALOG.find("gpt-4o")[1]["input_cost_per_token"] == 2.5e-06


def test_get_model_cost_map_is_a_fresh_copy_and_never_fetches():
    fresh = litellm.get_model_cost_map(url="https://example.invalid/model_prices_and_context_window.json")
    assert fresh == dict(litellm.model_cost) and fresh is not litellm.model_cost
    fresh["gpt-4o"]["input_cost_per_token"] = 0
    assert litellm.model_cost["gpt-4o"]["input_cost_per_token"] == 2.5e-06


def test_get_model_info_has_flags_params_limits_and_litellms_key():
    info = litellm.get_model_info("gpt-4o")
    assert info["key"] == "gpt-4o" and litellm.model_cost[info["key"]]["mode"] == "chat"
    assert all(flag in info for flag in SUPPORTS_FLAGS)
    assert info["supports_function_calling"] is True and info["supports_vision"] is True
    assert info["supports_prompt_caching"] is True and info["supports_response_schema"] is True
    assert info["max_input_tokens"] == 128000 and info["max_output_tokens"] == 16384
    assert "tools" in info["supported_openai_params"] and "stream" in info["supported_openai_params"]
    assert "tpm" in info and "rpm" in info
    assert litellm.get_model_info("gemini/gemini-1.5-flash")["rpm"] == 2000
    assert litellm.get_model_info("claude-2.1")["supports_function_calling"] is None  # not known: None, not False
    embed = litellm.get_model_info("text-embedding-3-small")
    assert embed["mode"] == "embedding" and "dimensions" in embed["supported_openai_params"]


@pytest.mark.parametrize("check,model,expected", [
    ("supports_function_calling", "gpt-4o", True),
    ("supports_function_calling", "openai/gpt-4o-mini", True),
    ("supports_function_calling", "claude-3-5-sonnet-20240620", True),
    ("supports_function_calling", "deepseek/deepseek-chat", True),
    ("supports_function_calling", "claude-2.1", False),  # never published: unknown reads as False
    ("supports_function_calling", "not-a-real-model", False),
    ("supports_vision", "gpt-4o", True),
    ("supports_vision", "gpt-3.5-turbo", False),
    ("supports_vision", "gemini/gemini-1.5-pro", True),
    ("supports_vision", "claude-3-sonnet-20240229", True),
    ("supports_prompt_caching", "anthropic/claude-3-5-sonnet-20240620", True),
    ("supports_prompt_caching", "claude-3-sonnet-20240229", False),
    ("supports_response_schema", "gpt-4o", True),
    ("supports_reasoning", "o3-mini", True),
    ("supports_reasoning", "deepseek/deepseek-reasoner", True),
    ("supports_reasoning", "gpt-4o", False),
])
def test_supports_helpers(check, model, expected):
    assert getattr(litellm, check)(model) is expected


def test_supports_helpers_take_custom_llm_provider():
    assert litellm.supports_vision("gpt-4o", custom_llm_provider="azure")
    assert litellm.supports_function_calling(model="llama3-8b-8192", custom_llm_provider="groq") is False


def test_catalogue_flags_are_booleans_and_only_known_names():
    known = set(SUPPORTS_FLAGS)
    for key in CATALOG.keys():
        entry = CATALOG.get(key)
        for field, value in entry.items():
            if field.startswith("supports_"):
                # Names outside get_model_info's fixed set come from LiteLLM's map by the importer, not by hand.
                assert field in known or re.fullmatch(r"supports_[a-z0-9_]+", field), (key, field)
                assert isinstance(value, bool), (key, field)
    assert all("_capabilities_source" in meta for meta in CATALOG.sources().values() if meta.get("_source"))


def test_get_max_tokens():
    assert litellm.get_max_tokens("gpt-4o") == 16384
    assert litellm.get_max_tokens("claude-3-5-sonnet-20240620") == 8192
    with pytest.raises(litellm.NotFoundError):
        litellm.get_max_tokens("not-a-real-model")


def test_get_llm_provider_is_litellms_four_tuple(monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    monkeypatch.delenv("GROQ_API_BASE", raising=False)
    assert litellm.get_llm_provider("gpt-4o") == ("gpt-4o", "openai", None, None)
    assert litellm.get_llm_provider("openai/gpt-4o") == ("gpt-4o", "openai", None, None)
    assert litellm.get_llm_provider("claude-3-5-sonnet-20240620")[:2] == ("claude-3-5-sonnet-20240620", "anthropic")
    assert litellm.get_llm_provider("azure/my-deployment", api_base="https://x.openai.azure.com") == (
        "my-deployment", "azure", None, "https://x.openai.azure.com")
    assert litellm.get_llm_provider("groq/llama3-8b-8192") == (
        "llama3-8b-8192", "groq", None, "https://api.groq.com/openai/v1")
    monkeypatch.setenv("GROQ_API_KEY", "gsk-from-env")
    assert litellm.get_llm_provider("groq/llama3-8b-8192")[2] == "gsk-from-env"
    assert litellm.get_llm_provider("llama3-8b-8192", custom_llm_provider="groq")[:2] == ("llama3-8b-8192", "groq")
    assert litellm.get_llm_provider("cohere_chat/command-r")[:2] == ("command-r", "cohere_chat")
    with pytest.raises(litellm.BadRequestError):
        litellm.get_llm_provider("a-model-without-provider")


def test_get_supported_openai_params():
    openai_params = litellm.get_supported_openai_params("gpt-4o")
    assert {"tools", "tool_choice", "response_format", "logit_bias", "stream", "stream_options"} <= set(openai_params)
    groq = litellm.get_supported_openai_params("llama3-8b-8192", custom_llm_provider="groq")
    assert "tools" in groq and "logit_bias" not in groq and "logprobs" not in groq
    assert "tools" not in litellm.get_supported_openai_params("perplexity/sonar")
    assert litellm.get_supported_openai_params("text-embedding-3-small", request_type="embeddings") == [
        "dimensions", "encoding_format", "user"]
    assert litellm.get_supported_openai_params("x", custom_llm_provider="no-such-provider") is None


def test_encode_and_decode_round_trip():
    ids = litellm.encode(model="gpt-4o", text="hello world")
    assert ids == [24912, 2375]  # o200k_base
    assert litellm.encode(model="gpt-3.5-turbo", text="hello world") == [15339, 1917]  # cl100k_base
    assert litellm.decode(model="gpt-4o", tokens=ids) == "hello world"
    assert len(litellm.encode(model="gpt-4o", text="<|endoftext|>")) > 1  # special tokens are text, not refused

    class Upper:
        def encode(self, text):
            return [ord(c) for c in text.upper()]

        def decode(self, ids):
            return "".join(map(chr, ids))

    custom = {"type": "huggingface_tokenizer", "tokenizer": Upper()}
    assert litellm.decode(tokens=litellm.encode(text="ab", custom_tokenizer=custom), custom_tokenizer=custom) == "AB"


def test_helpers_are_importable_from_litellms_module_paths():
    from polyrelay.utils import get_max_tokens, get_model_info, supports_vision, token_counter

    assert get_max_tokens is polyrelay.get_max_tokens and supports_vision("gpt-4o")
    assert get_model_info("gpt-4o")["key"] == "gpt-4o" and token_counter(model="gpt-4o", text="hi") == 1
