"""``from litellm.integrations.custom_guardrail import CustomGuardrail`` works as
``from polyrelay.integrations.custom_guardrail import CustomGuardrail``."""

from ..guardrails.base import CustomGuardrail, GuardrailBlocked

__all__ = ["CustomGuardrail", "GuardrailBlocked"]
