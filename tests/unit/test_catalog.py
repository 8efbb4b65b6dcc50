"""The model catalogue: shipped data, name resolution, refresh from files."""

import json
import re
from importlib import resources

import openai
import pytest

import polyrelay
from polyrelay.catalog import BUNDLED, CATALOG, ENV_VAR, Catalog, importer, litellm_key
from polyrelay.providers.hosted import NO_TOKEN_PRICE

# LiteLLM's modes (None: a few entries it lists without one, priced all the same).
MODES = {"chat", "completion", "embedding", "moderation", "image_generation", "image_edit", "responses", "realtime",
         "audio_transcription", "audio_speech", "video_generation", "rerank", "ocr", "evaluation", "search",
         "guardrail", "decisions", None}


@pytest.fixture(autouse=True)
def fresh_catalog(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    CATALOG.reload()
    yield
    monkeypatch.delenv(ENV_VAR, raising=False)
    CATALOG.reload()


def _bundled(name):
    return json.loads(resources.files("polyrelay.catalog").joinpath(f"{name}.json").read_text())


@pytest.mark.parametrize("name", BUNDLED)
def test_each_file_names_its_source_and_date(name):
    data = _bundled(name)
    assert data["_source"].strip() and "http" in data["_source"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", data["_as_of"])


@pytest.mark.parametrize("name", BUNDLED)
def test_entries_are_well_formed(name):
    """Every shipped entry is internally consistent (importer.problems: prices are
    non-negative numbers, a cache read is cheaper than input, a cache write and the
    1-hour write no cheaper, long-context and priority rates no cheaper than base)
    and has a price: every model of every provider we route can be charged."""
    for key, entry in _bundled(name).items():
        if key.startswith("_"):
            continue
        assert "/" in key, key
        assert entry.get("mode") in MODES, key
        assert entry["litellm_provider"], key
        assert importer.problems(key, entry) == [], key
        assert any("cost" in field for field in entry), f"{key}: no price"


def test_routable_providers_are_priced():
    from polyrelay.providers import ADAPTERS

    self_hosted = {"mock", "ollama", "ollama_chat", "hosted_vllm", "lm_studio", *NO_TOKEN_PRICE}
    # OpenRouter is absent from LiteLLM's map; its answers carry their own cost (usage.cost), which wins.
    priced_by_answer = {"openrouter"}
    # NVIDIA publishes no per-token price for NIM (free trial API; self-hosted NIM is licensed per GPU).
    unpublished = {"nvidia_nim"}
    for provider in set(ADAPTERS) - self_hosted - priced_by_answer - unpublished:
        assert any(key.startswith(provider + "/") for key in CATALOG.keys()), provider


def test_importer_refuses_inconsistent_figures():
    litellm = {
        "grok-test": {"litellm_provider": "xai", "mode": "chat", "input_cost_per_token": 2e-6,
                      "output_cost_per_token": 1e-5, "cache_read_input_token_cost": 3e-6,
                      "input_cost_per_token_priority": 1e-6},
        "xai/unpriced-router": {"litellm_provider": "xai", "mode": "chat"},
        "gpt-4o": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 3e-6,
                   "supports_vision": True},
        "some-other-vendor/model": {"litellm_provider": "elsewhere", "input_cost_per_token": 1.0},
    }
    files = {"openai": {"openai/gpt-4o": {"input_cost_per_token": 2.5e-6, "mode": "chat"}}}
    report = importer.merge(litellm, files, "test")
    assert files["xai"]["xai/grok-test"] == {"litellm_provider": "xai", "mode": "chat", "input_cost_per_token": 2e-6,
                                             "output_cost_per_token": 1e-5}
    assert "xai/unpriced-router" not in files["xai"]
    assert files["openai"]["openai/gpt-4o"] == {"input_cost_per_token": 3e-6, "mode": "chat", "supports_vision": True,
                                                "litellm_provider": "openai"}
    assert set(files) == {"openai", "xai"}
    assert any(line.startswith("changed openai/gpt-4o: input_cost_per_token") for line in report)
    assert sum(line.startswith("left out xai/grok-test") for line in report) == 2


COVERED = [
    "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o1", "o1-mini", "o3", "o3-mini",
    "o4-mini", "gpt-3.5-turbo", "gpt-3.5-turbo-instruct", "text-embedding-3-small", "text-embedding-3-large",
    "text-embedding-ada-002", "omni-moderation-latest", "text-moderation-latest", "gpt-5",
    "azure/gpt-4o", "azure/gpt-4o-mini", "azure/gpt-4.1", "azure/o1", "azure/o3-mini", "azure/gpt-35-turbo",
    "azure/text-embedding-3-small",
    "claude-3-5-sonnet-20240620", "claude-3-5-sonnet-20241022", "claude-3-7-sonnet-20250219",
    "claude-sonnet-4-20250514", "claude-opus-4-20250514", "claude-opus-4-1-20250805", "claude-sonnet-4-5",
    "claude-3-5-haiku-20241022", "claude-3-haiku-20240307", "claude-haiku-4-5",
    "deepseek/deepseek-chat", "deepseek/deepseek-reasoner",
    "groq/llama3-8b-8192", "groq/llama3-70b-8192", "groq/llama-3.1-8b-instant", "groq/llama-3.3-70b-versatile",
    "gemini/gemini-1.5-pro", "gemini/gemini-1.5-flash", "gemini/gemini-2.0-flash", "gemini/gemini-2.5-pro",
    "gemini/gemini-2.5-flash", "mistral/mistral-large-latest", "mistral/mistral-small-latest",
    "mistral/mistral-embed", "command-r", "command-r-plus", "embed-english-v3.0",
    "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0", "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
    "bedrock/amazon.titan-text-express-v1", "bedrock/amazon.titan-embed-text-v2:0",
    "bedrock/meta.llama3-8b-instruct-v1:0", "bedrock/meta.llama3-1-70b-instruct-v1:0",
]


@pytest.mark.parametrize("model", COVERED)
def test_required_models_are_covered(model):
    info = polyrelay.get_model_info(model)
    assert info["input_cost_per_token"] is not None
    assert info["max_input_tokens"] > 0


# Published figures, per 1M tokens: (input, output, cache read, cache write), from the
# providers' pricing pages named in each file's _source.
PUBLISHED = {
    "gpt-4o": (2.50, 10.00, 1.25, None),
    "gpt-4o-mini": (0.15, 0.60, 0.075, None),
    "gpt-4.1": (2.00, 8.00, 0.50, None),
    "o3-mini": (1.10, 4.40, 0.55, None),
    "gpt-3.5-turbo": (0.50, 1.50, None, None),
    "gpt-3.5-turbo-instruct": (1.50, 2.00, None, None),
    "text-embedding-3-small": (0.02, 0.0, None, None),
    "omni-moderation-latest": (0.0, 0.0, None, None),
    "claude-3-5-sonnet-20240620": (3.00, 15.00, 0.30, 3.75),
    "claude-3-haiku-20240307": (0.25, 1.25, 0.03, 0.30),
    "claude-opus-4-20250514": (15.00, 75.00, 1.50, 18.75),
    "claude-haiku-4-5": (1.00, 5.00, 0.10, 1.25),
    "deepseek/deepseek-chat": (0.28, 0.42, 0.028, None),
    "groq/llama3-8b-8192": (0.05, 0.08, None, None),
    "groq/llama-3.3-70b-versatile": (0.59, 0.79, None, None),
    "gemini/gemini-2.0-flash": (0.10, 0.40, 0.025, None),
    "gemini/gemini-2.5-pro": (1.25, 10.00, 0.125, None),  # caching at 10% of input since 2025
    "command-r": (0.15, 0.60, None, None),
    "bedrock/amazon.titan-embed-text-v2:0": (0.02, 0.0, None, None),
}


@pytest.mark.parametrize("model,prices", PUBLISHED.items())
def test_published_prices(model, prices):
    info = polyrelay.get_model_info(model)
    fields = ("input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost",
              "cache_creation_input_token_cost")
    for field, per_million in zip(fields, prices):
        expected = None if per_million is None else pytest.approx(per_million / 1e6, rel=1e-12)
        assert info[field] == expected, field


def test_get_model_info_has_litellm_keys():
    info = polyrelay.get_model_info("gpt-4o")
    for key in ("key", "litellm_provider", "mode", "max_tokens", "max_input_tokens", "max_output_tokens",
                "input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost",
                "cache_creation_input_token_cost"):
        assert key in info
    assert info["litellm_provider"] == info["provider"] == "openai"
    assert info["mode"] == "chat"
    assert (info["max_input_tokens"], info["max_output_tokens"], info["max_tokens"]) == (128000, 16384, 16384)
    assert info["cache_creation_input_token_cost"] is None


@pytest.mark.parametrize("model,provider,key", [
    ("gpt-4o", None, "openai/gpt-4o"),
    ("openai/gpt-4o", None, "openai/gpt-4o"),
    ("gpt-4o", "openai", "openai/gpt-4o"),
    ("gpt-4o", "azure", "azure/gpt-4o"),
    ("azure/gpt-4o", None, "azure/gpt-4o"),
    ("GPT-4o", None, "openai/gpt-4o"),
    ("claude-3-5-sonnet-20240620", None, "anthropic/claude-3-5-sonnet-20240620"),
    ("anthropic/claude-3-5-sonnet-20240620", None, "anthropic/claude-3-5-sonnet-20240620"),
    ("deepseek-chat", None, "deepseek/deepseek-chat"),
    ("gemini-2.5-flash", None, "gemini/gemini-2.5-flash"),
    ("mistral-large-latest", None, "mistral/mistral-large-latest"),
    ("command-r", None, "cohere/command-r"),
    ("cohere_chat/command-r", None, "cohere/command-r"),
    ("gpt-3.5-turbo-instruct", None, "text-completion-openai/gpt-3.5-turbo-instruct"),
    ("openai/gpt-3.5-turbo-instruct", None, "text-completion-openai/gpt-3.5-turbo-instruct"),
    ("text-completion-openai/gpt-3.5-turbo-instruct", None, "text-completion-openai/gpt-3.5-turbo-instruct"),
    ("anthropic.claude-3-haiku-20240307-v1:0", None, "bedrock/anthropic.claude-3-haiku-20240307-v1:0"),
    ("bedrock/us.anthropic.claude-3-haiku-20240307-v1:0", None, "bedrock/anthropic.claude-3-haiku-20240307-v1:0"),
    ("bedrock/converse/anthropic.claude-3-haiku-20240307-v1:0", None,
     "bedrock/anthropic.claude-3-haiku-20240307-v1:0"),
    ("azure_text/gpt-35-turbo-instruct", None, "azure/gpt-35-turbo-instruct"),
])
def test_lookup_by_any_name(model, provider, key):
    # ``key`` is the entry's key in model_cost, spelt as LiteLLM spells it (bare for OpenAI, Anthropic, ...).
    info = polyrelay.get_model_info(model, custom_llm_provider=provider)
    assert info["key"] == litellm_key(key)
    assert polyrelay.model_cost[info["key"]]["input_cost_per_token"] == info["input_cost_per_token"]


def test_unknown_model_raises_not_found():
    with pytest.raises(polyrelay.NotFoundError) as caught:
        polyrelay.get_model_info("not-a-model-anyone-serves")
    assert isinstance(caught.value, openai.NotFoundError)
    assert "isn't mapped yet" in caught.value.message
    with pytest.raises(polyrelay.NotFoundError):
        polyrelay.get_model_info("gpt-4o", custom_llm_provider="hosted_vllm")  # self-hosted: not OpenAI's price


def test_mock_models_are_free():
    info = polyrelay.get_model_info("mock/anything")
    assert info["litellm_provider"] == "mock"
    assert info["input_cost_per_token"] == info["output_cost_per_token"] == 0.0


def test_retired_models_keep_their_last_price():
    assert polyrelay.get_model_info("gpt-4-32k")["output_cost_per_token"] == pytest.approx(120e-6)
    assert polyrelay.get_model_info("claude-2.1")["input_cost_per_token"] == pytest.approx(8e-6)
    assert polyrelay.get_model_info("groq/mixtral-8x7b-32768")["input_cost_per_token"] == pytest.approx(0.24e-6)


def test_register_model_adds_and_merges():
    keys = polyrelay.register_model({
        "my-private-model": {"input_cost_per_token": 1e-6, "output_cost_per_token": 4e-6,
                             "litellm_provider": "hosted_vllm", "mode": "chat", "max_input_tokens": 8192},
        "gpt-4o": {"input_cost_per_token": 9e-6},
    })
    assert keys == ["hosted_vllm/my-private-model", "openai/gpt-4o"]
    assert polyrelay.get_model_info("hosted_vllm/my-private-model")["output_cost_per_token"] == 4e-6
    assert polyrelay.get_model_info("my-private-model")["max_input_tokens"] == 8192
    repriced = polyrelay.get_model_info("gpt-4o")
    assert repriced["input_cost_per_token"] == 9e-6
    assert repriced["output_cost_per_token"] == pytest.approx(10e-6)  # untouched fields stay


def test_register_model_without_provider_keeps_the_bare_name():
    polyrelay.register_model({"house-model": {"input_cost_per_token": 2e-6, "output_cost_per_token": 2e-6}})
    assert polyrelay.get_model_info("house-model")["key"] == "house-model"
    assert polyrelay.get_model_info("openai/house-model")["key"] == "house-model"


def test_register_model_refuses_urls():
    with pytest.raises(ValueError, match="files, not URLs"):
        polyrelay.register_model("https://example.invalid/prices.json")


def test_refresh_from_env_file_without_code_change(tmp_path, monkeypatch):
    # LiteLLM's file format: bare keys, litellm_provider inside, a documentation-only sample_spec.
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({
        "sample_spec": {"input_cost_per_token": 0.0},
        "gpt-4o": {"input_cost_per_token": 2e-6, "litellm_provider": "openai"},
        "brand-new-model": {"input_cost_per_token": 3e-6, "output_cost_per_token": 6e-6,
                            "litellm_provider": "openai", "mode": "chat", "max_input_tokens": 1000},
    }))
    monkeypatch.setenv(ENV_VAR, str(path))
    catalog = Catalog()
    assert catalog.find("gpt-4o")[1]["input_cost_per_token"] == 2e-6
    assert catalog.find("gpt-4o")[1]["output_cost_per_token"] == pytest.approx(10e-6)
    assert catalog.find("brand-new-model")[0] == "openai/brand-new-model"
    assert catalog.find("sample_spec") is None
    assert str(path) in catalog.sources() and "openai.json" in catalog.sources()

    CATALOG.reload()  # the process-wide catalogue picks the file up the same way
    assert polyrelay.get_model_info("openai/brand-new-model")["output_cost_per_token"] == 6e-6


def test_load_file_merges_at_run_time(tmp_path):
    path = tmp_path / "update.json"
    path.write_text(json.dumps({"_source": "test", "_as_of": "2026-01-01",
                                "deepseek/deepseek-chat": {"output_cost_per_token": 5e-7}}))
    assert polyrelay.register_model(str(path)) == ["deepseek/deepseek-chat"]
    info = polyrelay.get_model_info("deepseek-chat")
    assert info["output_cost_per_token"] == 5e-7
    assert info["input_cost_per_token"] == pytest.approx(0.28e-6)
    CATALOG.reload()
    assert polyrelay.get_model_info("deepseek-chat")["output_cost_per_token"] == pytest.approx(0.42e-6)
