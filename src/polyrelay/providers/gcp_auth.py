"""Google Cloud access tokens for Vertex AI, with google-auth.

Where the credential comes from, first found wins:

- ``vertex_credentials``: a service-account (or any google-auth) JSON key,
  as the JSON text itself or as the path of a file holding it;
- application-default credentials: ``GOOGLE_APPLICATION_CREDENTIALS``,
  gcloud's ADC file, or the metadata server of a GCP machine.

One credential object per source is kept for the process and its token
reused until five minutes before it expires. google-auth is synchronous
(it posts the signed JWT grant to the key's ``token_uri`` and waits), so
loading and refreshing run in a worker thread, never on the event loop;
a lock per source makes concurrent calls share one refresh.
"""

from __future__ import annotations

import ast
import asyncio
import datetime
import hashlib
import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from ..errors import APIConnectionError, AuthenticationError, BadRequestError
from ..redact import scrub

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
# Refresh this long before the token expires, so no request leaves with a token
# that dies in flight (Google's tokens live an hour).
REFRESH_MARGIN = datetime.timedelta(minutes=5)
TOKEN_TIMEOUT_SECONDS = 30.0


@dataclass
class _Source:
    lock: threading.Lock = field(default_factory=threading.Lock)
    credentials: Any = None
    project: str | None = None


_SOURCES: dict[str, _Source] = {}
_SOURCES_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    project: str | None  # the project the credential names (a service account's project_id)


async def access_token(vertex_credentials: str | None, *, provider: str, model: str) -> Token:
    """A valid access token for the credential, fetched or refreshed off the event loop when needed."""
    key = hashlib.sha256(vertex_credentials.encode()).hexdigest() if vertex_credentials else "adc"
    with _SOURCES_LOCK:
        source = _SOURCES.setdefault(key, _Source())
    fresh = _fresh(source)
    if fresh is not None:
        return fresh
    try:
        import google.auth  # noqa: F401  (the vertex extra)
    except ImportError:
        raise BadRequestError(f"{provider} needs google-auth to sign in to Google Cloud: "
                              "pip install 'polyrelay[vertex]'", llm_provider=provider, model=model) from None
    return await asyncio.to_thread(_refresh, source, vertex_credentials, provider, model)


def forget(vertex_credentials: str | None) -> None:
    """Drop a cached token (the provider answered 401: it was revoked or the clock lies)."""
    key = hashlib.sha256(vertex_credentials.encode()).hexdigest() if vertex_credentials else "adc"
    with _SOURCES_LOCK:
        source = _SOURCES.get(key)
    if source is not None and source.credentials is not None:
        with source.lock:
            source.credentials.token = None


def _fresh(source: _Source) -> Token | None:
    creds = source.credentials
    if creds is None or not creds.token:
        return None
    expiry = creds.expiry
    if expiry is not None:
        now = datetime.datetime.now(datetime.timezone.utc)
        if expiry.tzinfo is None:  # google-auth keeps naive UTC datetimes
            now = now.replace(tzinfo=None)
        if expiry - now < REFRESH_MARGIN:
            return None
    return Token(creds.token, source.project)


def _refresh(source: _Source, vertex_credentials: str | None, provider: str, model: str) -> Token:
    import google.auth
    import google.auth.exceptions

    secrets = (vertex_credentials,) if vertex_credentials else ()
    with source.lock:
        fresh = _fresh(source)  # another thread refreshed while this one waited
        if fresh is not None:
            return fresh
        try:
            if source.credentials is None:
                source.credentials, source.project = _load(vertex_credentials, provider, model)
            source.credentials.refresh(_Request())
        except google.auth.exceptions.TransportError as exc:
            raise APIConnectionError(f"{provider} could not reach Google's token endpoint: "
                                     f"{scrub(str(exc), secrets)}", llm_provider=provider, model=model) from None
        except google.auth.exceptions.GoogleAuthError as exc:
            raise AuthenticationError(f"{provider} could not get a Google access token: {scrub(str(exc), secrets)}",
                                      llm_provider=provider, model=model, secrets=secrets) from None
        return Token(source.credentials.token, source.project)


def _load(vertex_credentials: str | None, provider: str, model: str) -> tuple[Any, str | None]:
    import google.auth
    import google.auth.exceptions

    if not vertex_credentials:
        try:
            return google.auth.default(scopes=list(SCOPES))
        except google.auth.exceptions.DefaultCredentialsError:
            raise AuthenticationError(
                f"No Google credentials for {provider}: pass vertex_credentials= (a service-account JSON file "
                "or its content), set VERTEXAI_CREDENTIALS or GOOGLE_APPLICATION_CREDENTIALS, or run "
                "`gcloud auth application-default login`", llm_provider=provider, model=model) from None
    text = vertex_credentials.strip()
    if not text.startswith("{"):
        try:
            with open(text, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            # The path is no secret; its content would be, and is never quoted.
            raise AuthenticationError(f"vertex_credentials is neither JSON nor a readable file ({exc.strerror})",
                                      llm_provider=provider, model=model) from None
    try:
        info = json.loads(text)
    except ValueError:
        try:  # a dict given in YAML or Python reaches us as its repr
            info = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise AuthenticationError("vertex_credentials is not valid JSON", llm_provider=provider,
                                      model=model) from None
    if not isinstance(info, dict):
        raise AuthenticationError("vertex_credentials must be a JSON object", llm_provider=provider, model=model)
    kind = info.get("type")
    try:
        # Only the two types a key file holds: loading any type google-auth knows from a
        # caller-supplied JSON (external_account runs commands or reads files) is unsafe.
        if kind == "service_account":
            from google.oauth2 import service_account

            creds = service_account.Credentials.from_service_account_info(info, scopes=list(SCOPES))
        elif kind == "authorized_user":
            from google.oauth2 import credentials as user_credentials

            creds = user_credentials.Credentials.from_authorized_user_info(info, scopes=list(SCOPES))
        else:
            raise AuthenticationError(f"vertex_credentials of type {str(kind)[:40]!r} are not accepted: give a "
                                      "service_account or authorized_user JSON, or use application-default "
                                      "credentials", llm_provider=provider, model=model)
    except (ValueError, KeyError, google.auth.exceptions.GoogleAuthError) as exc:
        # google-auth names the missing field or the malformed key; it does not quote key material.
        raise AuthenticationError(f"vertex_credentials were refused by google-auth: {type(exc).__name__}: "
                                  f"{scrub(str(exc)[:200], (vertex_credentials,))}", llm_provider=provider,
                                  model=model, secrets=(vertex_credentials,)) from None
    project = info.get("project_id") or info.get("quota_project_id")
    return creds, project


class _Response:
    """google.auth.transport.Response over urllib's answer."""

    def __init__(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.status = status
        self.headers = headers
        self.data = data


class _Request:
    """google.auth.transport.Request on the standard library: google-auth's own
    adapters need ``requests`` or ``urllib3``, and this is a few token posts an hour."""

    def __call__(self, url: str, method: str = "GET", body: bytes | None = None,
                 headers: dict[str, str] | None = None, timeout: float | None = None, **_: Any) -> _Response:
        import google.auth.exceptions

        request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout or TOKEN_TIMEOUT_SECONDS) as answer:
                return _Response(answer.status, dict(answer.headers), answer.read())
        except urllib.error.HTTPError as exc:
            return _Response(exc.code, dict(exc.headers or {}), exc.read())
        except (urllib.error.URLError, OSError) as exc:
            raise google.auth.exceptions.TransportError(f"{url}: {getattr(exc, 'reason', exc)}") from None
