"""Custom guardrails written LiteLLM's newer, simpler way: one ``apply_guardrail``
method that gets text and returns it (changed or not), or raises to block.

LiteLLM has had two signatures; both are taken:

- ``apply_guardrail(text, language=None, entities=None, request_data=None) -> str``
- ``apply_guardrail(inputs, request_data, input_type, logging_obj=None) -> inputs``,
  ``inputs`` being ``{"texts": [...]}`` and ``input_type`` ``"request"`` or ``"response"``.

The class is wrapped as a text guardrail, so it runs in every mode the
built-ins do: pre_call on the request's texts, during_call (block only),
post_call on the answer's texts, and on streams over the look-behind
window (block only: text already sent cannot be changed).
"""

from __future__ import annotations

import inspect
from typing import Any, Iterable

from .base import CustomGuardrail
from .scanning import Span, TextGuardrail


class TextHook(TextGuardrail):
    remote = True  # asynchronous only: no synchronous find for logging_only
    def __init__(self, inner: CustomGuardrail) -> None:
        super().__init__(inner.guardrail_name, inner.event_hook, inner.default_on, action="mask")
        self.inner = inner
        self.what = "text its check refused"
        params = list(inspect.signature(inner.apply_guardrail).parameters)
        self.batch_style = bool(params) and params[0] == "inputs"

    async def apply(self, text: str, data: dict[str, Any], input_type: str) -> str:
        if self.batch_style:
            result = await self.inner.apply_guardrail(inputs={"texts": [text]}, request_data=data,
                                                      input_type=input_type)
            texts = (result or {}).get("texts") if isinstance(result, dict) else None
            return texts[0] if texts else text
        result = await self.inner.apply_guardrail(text=text, language=None, entities=None, request_data=data)
        return result if isinstance(result, str) else text

    async def afind(self, text: str) -> list[Span]:
        await self.apply(text, {}, "response")  # on a stream window: raising is all that counts
        return []

    async def _check_texts(self, slots: Iterable, data: dict, input_type: str, may_change: bool) -> None:
        for container, key in slots:
            new = await self.apply(container[key], data, input_type)
            if may_change and new != container[key]:
                container[key] = new

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        from .text import request_slots

        await self._check_texts(list(request_slots(data)), data, "request", True)
        return data

    async def async_moderation_hook(self, data, user_api_key_dict, call_type):
        from .text import request_slots

        await self._check_texts(list(request_slots(data)), data, "request", False)

    async def async_post_call_success_hook(self, data, user_api_key_dict, response):
        from .text import response_slots

        await self._check_texts(list(response_slots(response)), data, "response", True)
        return response
