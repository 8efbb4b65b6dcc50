"""``keywords``: whole words or phrases, case blind (``keywords: [...]``).

A phrase matches across any run of whitespace, so a phrase split over a
line break, or over two stream chunks, is still found.
"""

from __future__ import annotations

import re
from typing import Any

from ..scanning import Span, TextGuardrail


class Keywords(TextGuardrail):
    what = "a banned keyword"

    def __init__(self, guardrail_name: str, keywords: list[str], **kwargs: Any) -> None:
        super().__init__(guardrail_name, **kwargs)
        words = sorted(keywords, key=len, reverse=True)  # the longest phrase wins at one place
        alternatives = "|".join(r"\s+".join(map(re.escape, w.split())) for w in words)
        self.pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
        self.look_behind = max(self.look_behind, max(len(w) for w in words) * 2)

    @staticmethod
    def check_options(name: str, options: dict[str, Any]) -> None:
        words = options.get("keywords")
        if not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words):
            raise ValueError("keywords must be a non-empty list of words")

    def find(self, text: str) -> list[Span]:
        # The label is a number, not the word: a message never repeats what it refused.
        return [Span(m.start(), m.end(), "KEYWORD") for m in self.pattern.finditer(text)]
