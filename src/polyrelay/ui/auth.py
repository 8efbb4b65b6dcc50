"""Who may use the admin UI, and how a browser proves it.

- Sign-in: the master key, or a UI user from the config
  (``general_settings.ui_users``: username + password hash; or LiteLLM's
  ``ui_username`` / ``ui_password`` pair). Every comparison is constant-time.
- Sessions: a signed cookie (HMAC-SHA256), no server-side store, so every
  worker and every instance sharing the config accepts it. The signing key
  is derived from the config's secrets: changing the master key or a
  password ends every session.
- CSRF: each form carries a token bound to the session (an HMAC of the
  session's nonce); the sign-in form, before there is a session, uses a
  double-submit cookie. SameSite=Strict on both cookies is the second wall.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson

SESSION_COOKIE = "polyrelay_ui"
LOGIN_COOKIE = "polyrelay_ui_login"
SESSION_SECONDS = 12 * 3600
MASTER_USER = "admin (master key)"

# scrypt's interactive parameters: ~50 ms and 16 MB per check.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
PBKDF2_ITERATIONS = 600_000


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64): the format ``ui_users`` takes."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def check_hash_format(value: str) -> str | None:
    """Why a configured password hash is unusable, or None if it is fine."""
    parts = value.split("$") if isinstance(value, str) else []
    try:
        if len(parts) == 6 and parts[0] == "scrypt":
            n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
            if n > 1 and n & (n - 1) == 0 and r > 0 and p > 0 and _unb64(parts[4]) and _unb64(parts[5]):
                return None
        if len(parts) == 4 and parts[0] == "pbkdf2_sha256":
            if int(parts[1]) > 0 and _unb64(parts[2]) and _unb64(parts[3]):
                return None
    except (ValueError, TypeError, binascii.Error):
        pass
    return ("must be scrypt$N$r$p$salt$hash or pbkdf2_sha256$iterations$salt$hash (base64); "
            "make one with: python -m polyrelay.ui.passwords")


def verify_password(password: str, stored: str) -> bool:
    parts = stored.split("$")
    try:
        if parts[0] == "scrypt":
            n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
            expected = _unb64(parts[5])
            got = hashlib.scrypt(password.encode(), salt=_unb64(parts[4]), n=n, r=r, p=p, dklen=len(expected),
                                 maxmem=256 * 1024 * 1024)
        elif parts[0] == "pbkdf2_sha256":
            expected = _unb64(parts[3])
            got = hashlib.pbkdf2_hmac("sha256", password.encode(), _unb64(parts[2]), int(parts[1]), len(expected))
        else:
            return False
    except (ValueError, IndexError, MemoryError, binascii.Error):
        return False
    return hmac.compare_digest(got, expected)


@dataclass(frozen=True)
class Session:
    user: str
    nonce: str
    expires: float


class UIAuth:
    def __init__(self, master_key: str | None, users: dict[str, str], plain_users: dict[str, str],
                 salt: str | None = None) -> None:
        self.master_key = master_key
        self.users = users  # username -> password hash
        self.plain_users = plain_users  # LiteLLM's ui_username/ui_password (the password as configured)
        material = b"\0".join([b"polyrelay-ui-session-v1", (master_key or "").encode(), (salt or "").encode(),
                               *(f"{u}={h}".encode() for u, h in sorted(users.items())),
                               *(f"{u}={p}".encode() for u, p in sorted(plain_users.items()))])
        self._key = hashlib.sha256(material).digest()
        # Checked when the user name is unknown: as slow as a real check (users' hashes are scrypt's).
        self._decoy = hash_password(secrets.token_urlsafe(16)) if users else ""

    @property
    def enabled(self) -> bool:
        """Sign-in needs something to sign in with."""
        return bool(self.master_key or self.users or self.plain_users)

    def sign_in(self, username: str, password: str) -> str | None:
        """The session's user name, or None. One password hash is checked
        whatever the user name (a made-up one for an unknown name), so the
        time taken does not tell which user names exist."""
        found: str | None = None
        if self.master_key and hmac.compare_digest(password.encode(), self.master_key.encode()) and \
                username.strip() in ("", "admin"):
            found = MASTER_USER
        named, stored = None, self._decoy
        for user, user_hash in self.users.items():
            if hmac.compare_digest(username.encode(), user.encode()):
                named, stored = user, user_hash
        if verify_password(password, stored) and named is not None:
            found = found or named
        for user, plain in self.plain_users.items():
            if hmac.compare_digest(username.encode(), user.encode()) & hmac.compare_digest(password.encode(),
                                                                                            plain.encode()):
                found = found or user
        return found

    # -- session cookie ---------------------------------------------------------------------

    def new_session(self, user: str) -> str:
        payload = orjson.dumps({"u": user, "n": secrets.token_urlsafe(16), "e": int(time.time()) + SESSION_SECONDS})
        body = _b64(payload)
        return f"{body}.{self._sign(body)}"

    def read_session(self, cookie: str | None) -> Session | None:
        if not cookie or "." not in cookie:
            return None
        body, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            data: dict[str, Any] = orjson.loads(_unb64(body))
            session = Session(str(data["u"]), str(data["n"]), float(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > time.time() else None

    def csrf_token(self, session: Session) -> str:
        return self._sign("csrf:" + session.nonce)

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf_token(session))

    def _sign(self, text: str) -> str:
        return _b64(hmac.new(self._key, text.encode(), hashlib.sha256).digest())


def from_config(config) -> UIAuth:
    import os

    settings = config.general_settings
    users = {str(u["username"]): str(u["password_hash"]) for u in settings.get("ui_users") or []}
    plain = {}
    if settings.get("ui_username") and settings.get("ui_password"):
        plain[str(settings["ui_username"])] = str(settings["ui_password"])
    salt = os.environ.get("POLYRELAY_SALT_KEY") or os.environ.get("LITELLM_SALT_KEY")
    return UIAuth(config.master_key, users, plain, salt)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Strict: a character outside the URL-safe alphabet is an error, not skipped."""
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
