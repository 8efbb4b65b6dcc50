"""``secrets``: API keys and tokens of well-known formats, and private keys.

Each format is a vendor's published prefix and shape, so a find is a real
credential shape, not a guess by entropy (which flags hashes and ids).
All of them run as one alternation in one pass over the text.

Not detect-secrets: its last release is from 2024, it keeps its settings in
process-wide state, and it runs each plugin (entropy ones included) line by
line, several times slower than one compiled pass on the request path.
"""

from __future__ import annotations

import re
from typing import Any

from ..scanning import Span, TextGuardrail

FORMATS: dict[str, str] = {
    "PRIVATE_KEY": r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
    "AWS_ACCESS_KEY": r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b",
    "GITHUB_TOKEN": r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255})\b",
    "GITLAB_TOKEN": r"\bglpat-[A-Za-z0-9_-]{20,}\b",
    "ANTHROPIC_KEY": r"\bsk-ant-[A-Za-z0-9_-]{20,}",
    "OPENAI_KEY": r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
    "SLACK_TOKEN": r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
    "SLACK_WEBHOOK": r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}",
    "STRIPE_KEY": r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,}\b",
    "GOOGLE_API_KEY": r"\bAIza[0-9A-Za-z_-]{35}\b",
    "HUGGINGFACE_TOKEN": r"\bhf_[A-Za-z0-9]{30,}\b",
    "GROQ_KEY": r"\bgsk_[A-Za-z0-9]{40,}\b",
    "TWILIO_KEY": r"\bSK[0-9a-f]{32}\b",
    "SENDGRID_KEY": r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\b",
    "NPM_TOKEN": r"\bnpm_[A-Za-z0-9]{36}\b",
    "PYPI_TOKEN": r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}",
    "JWT": r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    "BASIC_AUTH_URL": r"\b[a-z][a-z0-9+.-]*://[^\s:/@]+:[^\s@/]{3,}@[^\s/]+",
}
# One pass for all formats; the group name says which matched.
PATTERN = re.compile("|".join(f"(?P<{name}>{regex})" for name, regex in FORMATS.items()))


class Secrets(TextGuardrail):
    what = "a secret"

    def __init__(self, guardrail_name: str, **kwargs: Any) -> None:
        super().__init__(guardrail_name, **kwargs)

    def find(self, text: str) -> list[Span]:
        return [Span(m.start(), m.end(), m.lastgroup or "SECRET") for m in PATTERN.finditer(text)]
