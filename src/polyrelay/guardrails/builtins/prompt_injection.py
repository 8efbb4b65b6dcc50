"""``prompt_injection``: heuristics for the common attempts to override a
model's instructions ("ignore all previous instructions", "you are now
DAN", "reveal your system prompt", fake role markers...).

Heuristics catch the well-known phrasings, not a determined attacker; say
so to whoever relies on it. Only user (and tool) content is scanned on the
way in: the system prompt is the operator's own. Answers are not scanned
by default (``mode: pre_call``), since models quote such phrases.
"""

from __future__ import annotations

import re
from typing import Any

from ..scanning import Span, TextGuardrail
from ..text import request_slots

_IGNORE = r"(?:ignore|disregard|forget|override|bypass|skip)"
_PRIOR = r"(?:all\s+|any\s+|the\s+|your\s+|my\s+)*(?:previous|prior|above|earlier|preceding|initial|original|system)"
_RULES = r"(?:instructions?|prompts?|rules|directions|guidelines|constraints|context)"
# name -> (words one of which every match contains, lower case; pattern). The
# words are a substring test on the lowered text first: most text runs no regex.
HEURISTICS = {
    "IGNORE_INSTRUCTIONS": (("ignore", "disregard", "forget", "override", "bypass", "skip"),
                            rf"\b{_IGNORE}\s+{_PRIOR}\s+{_RULES}\b"),
    "NEW_INSTRUCTIONS": (("instructions", "now"),
                         r"\b(?:your\s+new\s+instructions\s+are|from\s+now\s+on,?\s+you\s+(?:are|will|must)\s+"
                         r"(?:no\s+longer|not|ignore|only))\b"),
    "ROLE_OVERRIDE": (("dan", "developer", "jailbr", "unrestricted", "bound", "anything"),
                      r"\byou\s+are\s+(?:now\s+)?(?:DAN|in\s+developer\s+mode|jailbroken|unrestricted|"
                      r"no\s+longer\s+bound)\b|\bdo\s+anything\s+now\b|\bjailbreak\b"),
    "PROMPT_LEAK": (("prompt", "instructions"),
                    r"\b(?:reveal|print|show|repeat|output|leak)\s+(?:me\s+)?(?:your|the)\s+(?:\w+\s+)?"
                    r"(?:system\s+prompt|initial\s+instructions|hidden\s+instructions)\b"),
    "FAKE_ROLE_MARKER": (("<|", "inst]", "###"),
                         r"(?:<\|im_start\|>\s*system|\[/?INST\]|<\|system\|>|^\s*###\s*system\s*:)"),
}
COMPILED = [(name, words, re.compile(regex, re.IGNORECASE | re.MULTILINE))
            for name, (words, regex) in HEURISTICS.items()]
# Searched in the lowered text: re.IGNORECASE made this scan ~50x slower.
ANY_WORD = re.compile("|".join(re.escape(w) for words, _ in HEURISTICS.values() for w in words))


class PromptInjection(TextGuardrail):
    what = "a prompt injection attempt"

    def __init__(self, guardrail_name: str, **kwargs: Any) -> None:
        kwargs["action"] = "block"  # an injection is refused, never "masked" into a half-instruction
        super().__init__(guardrail_name, **kwargs)

    @staticmethod
    def check_options(name: str, options: dict[str, Any]) -> None:
        if options.get("action", "block") != "block":
            raise ValueError("action must be block (an injection attempt cannot be masked)")

    def find(self, text: str) -> list[Span]:
        lowered = text.lower()
        if ANY_WORD.search(lowered) is None:
            return []
        found = []
        for name, words, pattern in COMPILED:
            if any(word in lowered for word in words):
                found += [Span(m.start(), m.end(), name) for m in pattern.finditer(text)]
        return found

    def _user_slots(self, data: dict) -> list:
        system = {id(m) for m in data.get("messages") or () if isinstance(m, dict) and m.get("role") == "system"}
        slots = []
        for container, key in request_slots(data):
            if id(container) in system:
                continue
            slots.append((container, key))
        return slots

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        await self._check(self._user_slots(data), False, "the request")
        return data

    async def async_moderation_hook(self, data, user_api_key_dict, call_type):
        await self._check(self._user_slots(data), False, "the request")
