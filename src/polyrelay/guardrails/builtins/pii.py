"""``pii``: e-mail addresses, phone numbers, credit cards (Luhn-checked),
IBANs (mod-97-checked), US social security numbers and IP addresses.

Checksums keep the common false positives out: an order number of 16 digits
is not a card unless its Luhn digit says so; a string shaped like an IBAN is
one only if its check digits agree. Hand-written on purpose: presidio-analyzer
needs spaCy models (not installable here, and heavy on the hot path), and
phonenumbers, while exact, parses per region and costs far more per text than
one regex pass.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable

from ..scanning import Span, TextGuardrail

ENTITIES = ("EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "US_SSN", "IP_ADDRESS")
# LiteLLM and Presidio spell some of them longer; accept those too.
ALIASES = {"EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "IBAN_CODE": "IBAN"}


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    iban = iban.replace(" ", "")
    if not 15 <= len(iban) <= 34:
        return False
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _phone_ok(text: str) -> bool:
    """7 to 15 digits (E.164's most); without a + or an area code in brackets, at least 10,
    so that short grouped numbers (quantities, versions) are not taken for phones."""
    digits = sum(c.isdigit() for c in text)
    return 7 <= digits <= 15 and (text.startswith(("+", "(")) or digits >= 10)


def _ip_ok(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# (entity, pattern, validator). Order matters: a card number is also phone-shaped,
# and the first entity to claim a span keeps it.
PATTERNS: list[tuple[str, re.Pattern[str], Callable[[str], bool] | None]] = [
    ("EMAIL", re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"), None),
    ("CREDIT_CARD", re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"),
     lambda s: luhn_ok(re.sub(r"\D", "", s))),
    ("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"), iban_ok),
    ("US_SSN", re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])"), None),
    ("IP_ADDRESS", re.compile(r"(?<![\w.:])(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})"
                              r"(?![\w.:])"), _ip_ok),
    # International (+country) or grouped national numbers: 7 to 15 digits in 2 to 5 groups.
    ("PHONE", re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}(?![\w-])"),
     _phone_ok),
]


# A cheap test a text must pass before an entity's pattern is run: most prose
# has no "@" and no digit, and then costs two C-level scans.
_DIGIT = re.compile(r"\d")
NEEDS: dict[str, Callable[[str, bool], bool]] = {
    "EMAIL": lambda text, digits: "@" in text,
    "CREDIT_CARD": lambda text, digits: digits,
    "IBAN": lambda text, digits: digits,
    "US_SSN": lambda text, digits: digits and "-" in text,
    "IP_ADDRESS": lambda text, digits: digits or "::" in text,
    "PHONE": lambda text, digits: digits,
}


class PII(TextGuardrail):
    what = "personal data"

    def __init__(self, guardrail_name: str, entities: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(guardrail_name, **kwargs)
        wanted = {ALIASES.get(e, e) for e in entities} if entities else set(ENTITIES)
        self.patterns = [p for p in PATTERNS if p[0] in wanted]

    @staticmethod
    def check_options(name: str, options: dict[str, Any]) -> None:
        entities = options.get("entities")
        if entities is None:
            return
        if not isinstance(entities, list) or not entities:
            raise ValueError("entities must be a non-empty list")
        unknown = [e for e in entities if ALIASES.get(e, e) not in ENTITIES]
        if unknown:
            raise ValueError(f"unknown entities {unknown}; known: {', '.join(ENTITIES)}")

    def find(self, text: str) -> list[Span]:
        found: list[Span] = []
        digits = _DIGIT.search(text) is not None
        for entity, pattern, valid in self.patterns:
            if not NEEDS[entity](text, digits):
                continue
            for m in pattern.finditer(text):
                if valid is not None and not valid(m.group()):
                    continue
                if any(s.start < m.end() and m.start() < s.end for s in found):
                    continue  # already claimed by an earlier entity
                found.append(Span(m.start(), m.end(), entity))
        return found
