"""The built-in guardrails by the name a config uses under ``litellm_params.guardrail``."""

from .keywords import Keywords
from .moderation import Moderation
from .pii import PII
from .presidio import Presidio
from .prompt_injection import PromptInjection
from .regex import Regex
from .secrets import Secrets

BUILTINS = {
    "pii": PII,
    "secrets": Secrets,
    "hide-secrets": Secrets,  # LiteLLM's name for its secret detector
    "keywords": Keywords,
    "regex": Regex,
    "prompt_injection": PromptInjection,
    "moderation": Moderation,
    "presidio": Presidio,
}
# Options every text built-in takes besides its own.
COMMON_OPTIONS = ("action",)
OWN_OPTIONS = {PII: ("entities",), Secrets: (), Keywords: ("keywords",), Regex: ("patterns",),
               PromptInjection: (), Moderation: ("model",),
               Presidio: ("presidio_analyzer_api_base", "presidio_anonymizer_api_base", "presidio_language",
                          "pii_entities_config", "presidio_score_threshold")}
