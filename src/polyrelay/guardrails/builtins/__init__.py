"""The built-in guardrails by the name a config uses under ``litellm_params.guardrail``."""

from .keywords import Keywords
from .pii import PII
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
}
# Options every text built-in takes besides its own.
COMMON_OPTIONS = ("action",)
OWN_OPTIONS = {PII: ("entities",), Secrets: (), Keywords: ("keywords",), Regex: ("patterns",),
               PromptInjection: ()}
