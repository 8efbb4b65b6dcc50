"""Keep secrets out of messages: errors and logs pass through ``scrub``.

Known secrets (the call's own api_key) are replaced wherever they appear;
anything shaped like a provider key or a bearer token is masked as well,
because an upstream error body may echo a key we never saw.
"""

from __future__ import annotations

import re

_KEY_PATTERNS = re.compile(
    r"(?:sk|pk|rk|gsk|xai|sk-ant|sk-proj)-[A-Za-z0-9_\-]{8,}"  # OpenAI-style keys
    r"|AIza[0-9A-Za-z_\-]{20,}"  # Google API keys
    r"|(?i:bearer)\s+[A-Za-z0-9._\-]{8,}"  # bearer tokens
    r"|(?i:api[-_]?key)[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9._\-]{8,}"  # key=... in URLs/bodies
    r"|[?&](?i:key|token|access_token|secret)=[A-Za-z0-9._\-~+/%]{4,}"  # ?key=... (/key/info?key=sk-...)
)


# A password in a URL (http://user:pass@host): the user-info goes, the host stays readable.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")


def mask(secret: str) -> str:
    return "****" + secret[-4:] if len(secret) > 8 else "****"


def scrub(text: str, secrets: tuple[str, ...] | list[str] = ()) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, mask(secret))
    if "@" in text:
        text = _URL_USERINFO.sub(r"\1****@", text)
    return _KEY_PATTERNS.sub(lambda m: _mask_match(m.group(0)), text)


def _mask_match(found: str) -> str:
    # Keep the label of "Bearer x" / "api_key=x" so the message still reads.
    for sep in (" ", "=", ":"):
        if sep in found:
            label, _, value = found.rpartition(sep)
            return f"{label}{sep}{mask(value.strip(chr(34) + chr(39)))}"
    return mask(found)


class RedactingFilter:
    """A logging filter that scrubs every record: its message, its arguments
    (uvicorn's access log formats its arguments itself) and its traceback.
    Installed on the gateway's log handlers, so nothing a caller sends (a
    key in a query string, a header echoed in an error) reaches a log line."""

    def __init__(self, secrets: tuple[str, ...] | list[str] = ()) -> None:
        self.secrets = tuple(secrets)

    def filter(self, record) -> bool:
        secrets = self.secrets
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg, secrets)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_scrub_arg(a, secrets) for a in args)
        elif isinstance(args, dict):
            record.args = {k: _scrub_arg(v, secrets) for k, v in args.items()}
        if record.exc_info and not record.exc_text:
            import logging

            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info), secrets)
        return True


def _scrub_arg(value, secrets: tuple[str, ...]):
    if value is None or isinstance(value, (bool, int, float)):
        return value  # %d and friends still format
    return scrub(value if isinstance(value, str) else str(value), secrets)


class Secrets:
    """The gateway's known secrets, shared by every place that scrubs: the
    list can grow while serving (models added through /model/new), so it is
    one object the middlewares hold, not a tuple they copied at start."""

    def __init__(self, values: tuple[str, ...] = ()) -> None:
        self._values = tuple(values)

    def replace(self, values: tuple[str, ...]) -> None:
        self._values = tuple(dict.fromkeys(v for v in values if v))

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def __add__(self, other: tuple[str, ...]) -> tuple[str, ...]:
        return self._values + tuple(other)
