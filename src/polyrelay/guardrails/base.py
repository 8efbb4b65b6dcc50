"""What every guardrail is: LiteLLM's ``CustomGuardrail`` and the error a block raises.

A guardrail is a ``CustomGuardrail`` subclass (the built-ins are too). It
overrides the hooks of the modes it runs in, as in LiteLLM:

- ``async_pre_call_hook(user_api_key_dict, cache, data, call_type)``: before
  the provider call; returns the (possibly changed) request, or raises to block;
- ``async_moderation_hook(data, user_api_key_dict, call_type)``: beside the
  provider call (``during_call``); raises to block;
- ``async_post_call_success_hook(data, user_api_key_dict, response)``: on the
  answer; may change it, or raises to block;
- ``async_post_call_streaming_iterator_hook(user_api_key_dict, response, request_data)``:
  an async generator over a stream's chunks; raises to end the stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from ..errors import BadRequestError

MODES = ("pre_call", "during_call", "post_call", "logging_only")


class GuardrailBlocked(BadRequestError):
    """A guardrail refused the call. The message names the guardrail and the
    reason, never the text that matched. When the provider was already called
    (during_call, post_call) the answer's hidden params and usage ride along,
    so the call is charged for what it cost."""

    def __init__(self, guardrail: str, reason: str, *, spent_hidden: dict | None = None, spent_usage: Any = None):
        super().__init__(f"Blocked by guardrail {guardrail!r}: {reason}", code="guardrail_violation",
                         param="guardrails")
        self.guardrail = guardrail
        self.reason = reason
        self.spent_hidden = spent_hidden
        self.spent_usage = spent_usage


@dataclass
class UserAPIKeyAuth:
    """The caller as LiteLLM's hooks receive it (``user_api_key_dict``)."""

    api_key: str | None = None  # the key's hash: hooks never see a plain key
    user_id: str | None = None
    team_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class CustomGuardrail:
    """Base of every guardrail; subclass it and override the hooks you need.

    LiteLLM's CustomGuardrail is also a CustomLogger; this one stands alone
    so that a guardrail needs nothing of the logging layer."""

    def __init__(self, guardrail_name: str | None = None, event_hook: Any = None, default_on: bool = False,
                 **kwargs: Any) -> None:
        self.guardrail_name = guardrail_name or type(self).__name__
        modes = [event_hook] if isinstance(event_hook, str) else list(event_hook or ["pre_call"])
        self.event_hook = modes
        self.default_on = default_on
        self.optional_params = kwargs

    def runs_in(self, mode: str) -> bool:
        return mode in self.event_hook

    # A stream is checked by this many characters of look-behind: a phrase split
    # across chunks is seen whole as long as it is no longer than this.
    look_behind = 256

    async def async_pre_call_hook(self, user_api_key_dict: Any, cache: Any, data: dict, call_type: str) -> Any:
        return data

    async def async_moderation_hook(self, data: dict, user_api_key_dict: Any, call_type: str) -> Any:
        return None

    async def async_post_call_success_hook(self, data: dict, user_api_key_dict: Any, response: Any) -> Any:
        return response

    async def async_post_call_streaming_iterator_hook(self, user_api_key_dict: Any, response: AsyncIterator,
                                                      request_data: dict) -> AsyncIterator:
        async for chunk in response:
            yield chunk

    async def apply_guardrail(self, *args: Any, **kwargs: Any) -> Any:
        """LiteLLM's one-method form: override this instead of the hooks (text_hook.py)."""
        raise NotImplementedError

    # --- LiteLLM's helpers that custom guardrails call ---------------------

    def should_run_guardrail(self, data: dict, event_type: Any) -> bool:
        """Asked by LiteLLM-style hooks; the runner already chose who runs, so: yes if the mode is ours."""
        return getattr(event_type, "value", event_type) in self.event_hook

    def raise_block(self, reason: str) -> None:
        raise GuardrailBlocked(self.guardrail_name, reason)


def overrides(guardrail: CustomGuardrail, hook: str) -> bool:
    """Did the guardrail's class replace this hook (so it has work to do there)?"""
    return getattr(type(guardrail), hook) is not getattr(CustomGuardrail, hook)
