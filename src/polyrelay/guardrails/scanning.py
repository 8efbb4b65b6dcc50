"""Guardrails that look for spans in text: the shared part of the built-ins.

A built-in says what it finds (``find(text)`` -> spans with a label); this
class turns that into the modes: pre_call blocks or masks the request,
during_call blocks, post_call blocks or masks the answer, and a stream is
scanned as it arrives with a look-behind window.

In a stream, text the client already has cannot be masked, so a match ends
the stream whatever the action (docs/guardrails.md says so).
"""

from __future__ import annotations

from typing import Any, Iterable, NamedTuple

from .base import CustomGuardrail, GuardrailBlocked
from .text import chunk_pieces, request_slots, response_slots

ACTIONS = ("block", "mask")


class Span(NamedTuple):
    start: int
    end: int
    label: str  # what was found (EMAIL, AWS_ACCESS_KEY, ...), said in errors; never the text itself


class TextGuardrail(CustomGuardrail):
    what = "matched text"  # says in a block message what kind of thing was found

    def __init__(self, guardrail_name: str, event_hook: Any = None, default_on: bool = False,
                 action: str = "block", **kwargs: Any) -> None:
        super().__init__(guardrail_name, event_hook, default_on, **kwargs)
        self.action = action

    def find(self, text: str) -> list[Span]:  # overridden by each local built-in
        raise NotImplementedError

    async def afind(self, text: str) -> list[Span]:
        """What the hooks call: built-ins that ask a service (presidio, moderation) override this."""
        return self.find(text)

    async def amask(self, text: str, spans: list[Span]) -> str:
        return self.mask(text, spans)

    def mask(self, text: str, spans: list[Span]) -> str:
        out, last = [], 0
        for span in sorted(spans):
            if span.start < last:
                continue  # overlapping finds: the first one masks
            out.append(text[last:span.start])
            out.append(f"[{span.label}]")
            last = span.end
        out.append(text[last:])
        return "".join(out)

    async def _check(self, slots: Iterable, may_mask: bool, where: str) -> bool:
        """Block on a find, or mask it in place; True if anything was masked."""
        masked = False
        for container, key in slots:
            text = container[key]
            spans = await self.afind(text)
            if not spans:
                continue
            if self.action == "mask" and may_mask:
                container[key] = await self.amask(text, spans)
                masked = True
            else:
                labels = ", ".join(sorted({s.label for s in spans}))
                raise GuardrailBlocked(self.guardrail_name, f"{where} contains {self.what} ({labels})")
        return masked

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        await self._check(list(request_slots(data)), True, "the request")
        return data

    async def async_moderation_hook(self, data, user_api_key_dict, call_type):
        await self._check(list(request_slots(data)), False, "the request")

    async def async_post_call_success_hook(self, data, user_api_key_dict, response):
        await self._check(list(response_slots(response)), True, "the answer")
        return response

    def stream_checker(self) -> "StreamWindow":
        return StreamWindow(self)


class StreamWindow:
    """Scans a stream's text per choice: each batch's new text plus the last
    ``look_behind`` characters before it, so a match split across chunks is
    found, and each character is scanned a bounded number of times."""

    def __init__(self, guardrail: TextGuardrail) -> None:
        self.guardrail = guardrail
        self.tails: dict[int, str] = {}

    async def feed(self, chunks: list[dict]) -> None:
        new: dict[int, list[str]] = {}
        for chunk in chunks:
            for index, text in chunk_pieces(chunk):
                new.setdefault(index, []).append(text)
        guardrail = self.guardrail
        for index, pieces in new.items():
            window = self.tails.get(index, "") + "".join(pieces)
            spans = await guardrail.afind(window)
            if spans:
                labels = ", ".join(sorted({s.label for s in spans}))
                raise GuardrailBlocked(guardrail.guardrail_name, f"the answer contains {guardrail.what} ({labels})")
            self.tails[index] = window[-guardrail.look_behind:]
