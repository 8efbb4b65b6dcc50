"""``polyrelay.anthropic.messages.create`` / ``acreate`` (see ``agent_calls.py``)."""

from ..agent_calls import anthropic_acreate as acreate, anthropic_create as create

__all__ = ["acreate", "create"]
