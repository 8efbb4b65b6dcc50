"""Issue 20's providers, gathered so the registry names them in one line:
the rest of the OpenAI-compatible family (with Databricks, Cloudflare and
Heroku), Hugging Face, SageMaker and Replicate."""

from __future__ import annotations

from .base import Adapter
from .compatible_family import ADAPTERS as _FAMILY
from .huggingface import HuggingFaceAdapter
from .replicate import ReplicateAdapter
from .sagemaker import SageMakerAdapter

ADAPTERS: dict[str, Adapter] = {
    **_FAMILY,
    "huggingface": HuggingFaceAdapter(),
    "sagemaker": SageMakerAdapter("sagemaker"),
    "sagemaker_chat": SageMakerAdapter("sagemaker_chat"),
    "replicate": ReplicateAdapter(),
}

# Routable providers of this set with no per-token price to ship (the catalogue test names them):
NO_TOKEN_PRICE = frozenset({
    # servers you run: no vendor price
    "vllm", "llamafile", "xinference",
    # a LiteLLM proxy prices its own calls
    "litellm_proxy",
    # a SageMaker endpoint serving OpenAI's format is billed per instance-hour
    "sagemaker_chat",
    # billed at the rate of the inference provider the router picks
    "huggingface",
    # no priced entry in LiteLLM's map (the source the catalogue imports): priced as any unknown
    # model until a price file (POLYRELAY_MODEL_CATALOG) lists them
    "ai21_chat", "aihubmix", "chutes", "empower", "featherless_ai", "galadriel", "github", "helicone", "heroku",
    "meta_llama", "nano-gpt", "poe", "synthetic", "veniceai", "xiaomi_mimo",
})
