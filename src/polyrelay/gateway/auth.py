"""Who is calling: the credential a request carries, and what it may do.

A request names itself with ``Authorization: Bearer <key>`` (OpenAI
clients) or ``api-key: <key>`` (Azure clients). ``Authenticator`` turns
that into a ``Principal``:

- no ``master_key`` configured: everyone is let in (the key sent, if any, is
  ignored: OpenAI clients always send one);
- the master key: the admin, allowed everything;
- anything else goes to the ``KeyLookup`` (virtual keys, database-backed,
  answered from memory on the hot path); with none configured, it is refused.

The lookup is a protocol so the virtual-key store plugs in without the
middleware or the routes changing.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import AuthenticationError, PermissionDeniedError


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller, as far as the gateway's checks are concerned."""

    kind: str  # "open" (no master key set) | "master" | "virtual_key"
    key_hash: str | None = None
    models: tuple[str, ...] | None = None  # None: every model group
    user_id: str | None = None
    team_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    entry: Any = None  # keys.KeyEntry: the key's record with its user's and team's (budgets, limits)

    @property
    def is_admin(self) -> bool:
        return self.kind in ("open", "master")

    def check_model(self, model: str) -> None:
        if self.models is not None and model not in self.models:
            raise PermissionDeniedError(
                f"this key may not call model {model!r}; allowed: {', '.join(self.models) or 'none'}",
                param="model", code="model_not_allowed")


OPEN = Principal("open")
MASTER = Principal("master")


class KeyLookup(Protocol):
    """Resolves a non-master key to a Principal, or None if it is not a key we issued."""

    async def principal_for(self, key: str) -> Principal | None: ...


def token_from_headers(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key from ``Authorization: Bearer`` or ``api-key`` (raw ASGI headers)."""
    api_key = None
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            if not token and scheme:  # "Authorization: sk-..." without the scheme
                return scheme
        elif name == b"api-key" or name == b"x-api-key":
            api_key = value.decode("latin-1").strip() or None
    return api_key


class Authenticator:
    def __init__(self, master_key: str | None, lookup: KeyLookup | None = None) -> None:
        self._master = master_key.encode() if master_key else None
        self.lookup = lookup

    @property
    def required(self) -> bool:
        return self._master is not None

    async def authenticate(self, token: str | None) -> Principal:
        if self._master is None:
            return OPEN
        if not token:
            raise AuthenticationError(
                "No API key sent. Send the gateway's key as 'Authorization: Bearer <key>' (or an 'api-key' header).",
                code="missing_api_key")
        # Constant-time: the master key must not leak through response timing.
        if hmac.compare_digest(token.encode(), self._master):
            return MASTER
        if self.lookup is not None:
            found = await self.lookup.principal_for(token)
            if found is not None:
                return found
        raise AuthenticationError("Invalid API key: it is neither the master key nor a key this gateway issued.",
                                  code="invalid_api_key")
