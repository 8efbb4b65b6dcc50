"""``presidio``: Microsoft Presidio over HTTP, as LiteLLM's guardrail uses it.

The analyzer (``POST {presidio_analyzer_api_base}/analyze`` with ``text``,
``language``, optional ``entities`` and ``score_threshold``) returns spans
``[{entity_type, start, end, score}]``; masking asks the anonymizer
(``POST {presidio_anonymizer_api_base}/anonymize`` with ``text``,
``analyzer_results`` and a ``replace`` operator) for the new text.

``pii_entities_config: {CREDIT_CARD: MASK, US_SSN: BLOCK}`` picks the
entities and what each does (LiteLLM's option); without it every entity
found is handled by ``action`` (mask by default, as LiteLLM's presidio
guardrail does). A service that does not answer refuses the call (503):
a guardrail that cannot check lets nothing through.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from ...errors import PolyrelayError, ServiceUnavailableError
from ..scanning import Span, TextGuardrail

TIMEOUT_S = 10.0


class Presidio(TextGuardrail):
    what = "personal data"
    remote = True

    def __init__(self, guardrail_name: str, presidio_analyzer_api_base: str | None = None,
                 presidio_anonymizer_api_base: str | None = None, presidio_language: str = "en",
                 pii_entities_config: dict[str, str] | None = None, presidio_score_threshold: float | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("action", "mask")
        super().__init__(guardrail_name, **kwargs)
        self.analyzer = _base(presidio_analyzer_api_base or os.environ.get("PRESIDIO_ANALYZER_API_BASE"))
        self.anonymizer = _base(presidio_anonymizer_api_base or os.environ.get("PRESIDIO_ANONYMIZER_API_BASE"))
        self.language = presidio_language
        self.entity_actions = {k: v.lower() for k, v in (pii_entities_config or {}).items()}
        self.score_threshold = presidio_score_threshold

    @staticmethod
    def check_options(name: str, options: dict[str, Any]) -> None:
        for key, env in (("presidio_analyzer_api_base", "PRESIDIO_ANALYZER_API_BASE"),
                         ("presidio_anonymizer_api_base", "PRESIDIO_ANONYMIZER_API_BASE")):
            value = options.get(key) or os.environ.get(env)
            if not isinstance(value, str) or not value.startswith(("http://", "https://")):
                raise ValueError(f"{key} (or ${env}) must be the service's http(s) URL")
        config = options.get("pii_entities_config")
        if config is not None:
            if not isinstance(config, dict) or not config:
                raise ValueError("pii_entities_config must map entity names to MASK or BLOCK")
            bad = {k: v for k, v in config.items() if str(v).lower() not in ("mask", "block")}
            if bad:
                raise ValueError(f"pii_entities_config: unknown actions {bad}; use MASK or BLOCK")

    async def _post(self, base: str, path: str, body: dict[str, Any]) -> Any:
        from ...providers.base import HTTPRequest
        from ...transport import UpstreamStatus, send

        request = HTTPRequest("POST", base + path, {"content-type": "application/json"}, json=body)
        try:
            reply = await send(request, timeout=TIMEOUT_S, provider="presidio", model=self.guardrail_name)
        except UpstreamStatus as exc:
            raise ServiceUnavailableError(f"guardrail {self.guardrail_name!r}: Presidio {path} answered HTTP "
                                          f"{exc.reply.status}", code="guardrail_unavailable") from None
        except PolyrelayError as exc:
            raise ServiceUnavailableError(f"guardrail {self.guardrail_name!r}: Presidio {path} did not answer "
                                          f"({type(exc).__name__})", code="guardrail_unavailable") from None
        return orjson.loads(reply.body)

    async def afind(self, text: str) -> list[Span]:
        if not text.strip():
            return []
        body: dict[str, Any] = {"text": text, "language": self.language}
        if self.entity_actions:
            body["entities"] = list(self.entity_actions)
        if self.score_threshold is not None:
            body["score_threshold"] = self.score_threshold
        found = await self._post(self.analyzer, "/analyze", body)
        spans = [Span(int(r["start"]), int(r["end"]), str(r["entity_type"])) for r in found or ()
                 if isinstance(r, dict) and "start" in r and "end" in r]
        if self.entity_actions:
            # An entity set to BLOCK refuses the call even where the guardrail's action is mask.
            blocking = sorted({s.label for s in spans if self.entity_actions.get(s.label) == "block"})
            if blocking:
                from ..base import GuardrailBlocked

                raise GuardrailBlocked(self.guardrail_name, f"the text contains {self.what} ({', '.join(blocking)})")
        return spans

    async def amask(self, text: str, spans: list[Span]) -> str:
        results = [{"entity_type": s.label, "start": s.start, "end": s.end, "score": 1.0} for s in spans]
        body = {"text": text, "analyzer_results": results,
                "anonymizers": {"DEFAULT": {"type": "replace", "new_value": "<REDACTED>"}}}
        answer = await self._post(self.anonymizer, "/anonymize", body)
        return str(answer["text"])


def _base(url: str | None) -> str:
    return (url or "").rstrip("/")
