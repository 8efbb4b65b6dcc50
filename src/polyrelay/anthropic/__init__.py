"""``polyrelay.anthropic.messages.create`` / ``acreate``: Anthropic's Messages
API for any model polyrelay can call (LiteLLM's ``litellm.anthropic.messages``)."""

from types import SimpleNamespace

from ..agent_calls import anthropic_acreate, anthropic_create

messages = SimpleNamespace(create=anthropic_create, acreate=anthropic_acreate)

__all__ = ["messages"]
