"""Guardrails: checks before, beside and after the provider call (SPEC section 8).

- ``base``: ``CustomGuardrail`` (LiteLLM's hooks) and ``GuardrailBlocked``;
- ``setup``: the config's ``guardrails:`` list made into guardrail objects;
- ``runner``: which guardrails a request gets, and running them by mode;
- ``stream``: a stream checked as it arrives;
- ``stage``: the gateway route's one call into all of this;
- ``builtins/``: pii, secrets, keywords, regex, prompt_injection.
"""

from .base import CustomGuardrail, GuardrailBlocked
from .runner import Guardrails
from .setup import GuardrailConfigError, build_guardrails

__all__ = ["CustomGuardrail", "GuardrailBlocked", "GuardrailConfigError", "Guardrails", "build_guardrails"]
