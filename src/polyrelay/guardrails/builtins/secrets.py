"""``secrets``: API keys and tokens of well-known formats, and private keys.

Each format is a vendor's published prefix and shape, so a find is a real
credential shape, not a guess by entropy (which flags hashes and ids).
A substring test on each format's fixed part runs first, so ordinary text
costs a few microseconds and no regular expression.

Not detect-secrets: its last release is from 2024, it keeps its settings in
process-wide state, and it runs each plugin (entropy ones included) line by
line: far slower than a substring test per format on the request path.
"""

from __future__ import annotations

import re
from typing import Any

from ..scanning import Span, TextGuardrail

# name -> (literals one of which every match contains, pattern). The literals
# are a substring test first: ordinary text (most requests) skips the regex.
FORMATS: dict[str, tuple[tuple[str, ...], str]] = {
    "PRIVATE_KEY": (("PRIVATE KEY",), r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    "AWS_ACCESS_KEY": (("AKIA", "ASIA", "ABIA", "ACCA"), r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
    "GITHUB_TOKEN": (("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
                     r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255})\b"),
    "GITLAB_TOKEN": (("glpat-",), r"\bglpat-[A-Za-z0-9_-]{20,}\b"),
    "ANTHROPIC_KEY": (("sk-ant-",), r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
    "OPENAI_KEY": (("sk-",), r"\bsk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    "SLACK_TOKEN": (("xox",), r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "SLACK_WEBHOOK": (("hooks.slack.com",), r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}"),
    "STRIPE_KEY": (("_live_", "_test_"), r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,}\b"),
    "GOOGLE_API_KEY": (("AIza",), r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "HUGGINGFACE_TOKEN": (("hf_",), r"\bhf_[A-Za-z0-9]{30,}\b"),
    "GROQ_KEY": (("gsk_",), r"\bgsk_[A-Za-z0-9]{40,}\b"),
    "TWILIO_KEY": (("SK",), r"\bSK[0-9a-f]{32}\b"),
    "SENDGRID_KEY": (("SG.",), r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\b"),
    "NPM_TOKEN": (("npm_",), r"\bnpm_[A-Za-z0-9]{36}\b"),
    "PYPI_TOKEN": (("pypi-",), r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}"),
    "JWT": (("eyJ",), r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    "BASIC_AUTH_URL": (("://",), r"\b[a-z][a-z0-9+.-]*://[^\s:/@]+:[^\s@/]{3,}@[^\s/]+"),
}
COMPILED = [(name, literals, re.compile(regex)) for name, (literals, regex) in FORMATS.items()]
# Any fixed part at all: one C-level scan that most text fails.
ANY_LITERAL = re.compile("|".join(re.escape(lit) for literals, _ in FORMATS.values() for lit in literals))


class Secrets(TextGuardrail):
    what = "a secret"

    def __init__(self, guardrail_name: str, **kwargs: Any) -> None:
        super().__init__(guardrail_name, **kwargs)

    def find(self, text: str) -> list[Span]:
        if ANY_LITERAL.search(text) is None:
            return []
        found = []
        for name, literals, pattern in COMPILED:
            if any(literal in text for literal in literals):
                found += [Span(m.start(), m.end(), name) for m in pattern.finditer(text)]
        return found
