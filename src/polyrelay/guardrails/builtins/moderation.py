"""``moderation``: a moderation model group of the config judges the text
(``model: <group>``, e.g. an ``openai/omni-moderation-latest`` deployment).

Flagged text is refused, naming the categories flagged. Requests are judged
on their user-visible text; answers (post_call) on theirs; a stream on its
new text with the look-behind window, one moderation call per batch.
"""

from __future__ import annotations

from typing import Any

from ..scanning import Span, TextGuardrail


class Moderation(TextGuardrail):
    what = "content the moderation model flagged"
    remote = True

    def __init__(self, guardrail_name: str, model: str, **kwargs: Any) -> None:
        kwargs["action"] = "block"
        super().__init__(guardrail_name, **kwargs)
        self.model = model
        self.router: Any = None  # the gateway's Router, given at start (runner.Guardrails.start)

    @staticmethod
    def check_options(name: str, options: dict[str, Any]) -> None:
        if not isinstance(options.get("model"), str) or not options["model"]:
            raise ValueError("model must name a moderation model group of this config")
        if options.get("action", "block") != "block":
            raise ValueError("action must be block (flagged text is refused, not masked)")

    async def afind(self, text: str) -> list[Span]:
        if not text.strip():
            return []
        answer = await self.router.amoderation(model=self.model, input=text)
        data = answer if isinstance(answer, dict) else answer.model_dump()
        flagged: set[str] = set()
        for result in data.get("results") or ():
            if result.get("flagged"):
                categories = {k for k, v in (result.get("categories") or {}).items() if v}
                flagged |= categories or {"FLAGGED"}
        return [Span(0, len(text), category) for category in sorted(flagged)]
