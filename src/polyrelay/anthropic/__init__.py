"""``polyrelay.anthropic.messages.create`` / ``acreate``: Anthropic's Messages
API for any model polyrelay can call (LiteLLM's ``litellm.anthropic.messages``)."""

from . import messages

__all__ = ["messages"]
