"""Issue 20's providers, gathered so the registry names them in one line:
the rest of the OpenAI-compatible family (with Databricks and Cloudflare),
Hugging Face, SageMaker and Replicate."""

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
