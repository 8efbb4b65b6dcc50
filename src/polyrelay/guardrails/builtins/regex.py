"""``regex``: ``patterns: [...]`` in Python's syntax; a match blocks (or is masked)."""

from __future__ import annotations

import re
from typing import Any

from ..scanning import Span, TextGuardrail


class Regex(TextGuardrail):
    what = "a forbidden pattern"

    def __init__(self, guardrail_name: str, patterns: list[str], **kwargs: Any) -> None:
        super().__init__(guardrail_name, **kwargs)
        self.patterns = [re.compile(p) for p in patterns]

    @staticmethod
    def check_options(name: str, options: dict[str, Any]) -> None:
        patterns = options.get("patterns")
        if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
            raise ValueError("patterns must be a non-empty list of regular expressions")
        for i, pattern in enumerate(patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"patterns[{i}] is not a valid regular expression: {exc}") from None

    def find(self, text: str) -> list[Span]:
        # Labelled by the pattern's position in the list, so an error says which rule fired.
        return [Span(m.start(), m.end(), f"PATTERN_{i}") for i, p in enumerate(self.patterns)
                for m in p.finditer(text) if m.end() > m.start()]
