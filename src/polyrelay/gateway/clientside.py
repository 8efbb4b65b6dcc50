"""Client-side endpoints: which request fields steer where the gateway sends
a call (and the deployment's credentials), and when a caller may set them.

An endpoint field from a client — ``api_base``, a region, a project, an API
version — decides which host receives the provider key the admin
configured. So, as SPEC 5 says of ``api_base``, each is refused unless the
admin allowed it: ``general_settings.allow_client_side_credentials: true``,
or the field named in every deployment's
``litellm_params.configurable_clientside_auth_params`` (a name, or
``{"api_base": "<url or regex>"}``).

Even where allowed, a value that reaches a URL is checked: an http(s) URL
with a host and no user-info (``http://allowed@evil/`` is a different host
than it looks), and never a link-local or cloud-metadata address (where
the machine's own cloud credentials are served) unless
``general_settings.allow_client_side_metadata_hosts: true``. Regions,
projects and versions are plain tokens, so they cannot smuggle a host in.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Any
from urllib.parse import urlsplit

from ..errors import BadRequestError, PermissionDeniedError

URL_FIELDS = frozenset({"api_base", "base_url", "aws_bedrock_runtime_endpoint", "aws_sts_endpoint",
                        "endpoint_url", "azure_endpoint"})
TOKEN_FIELDS = frozenset({"api_version", "aws_region_name", "region_name", "vertex_project", "vertex_location",
                          "vertex_ai_project", "vertex_ai_location", "aws_role_name", "aws_profile_name",
                          "cloudflare_account_id"})
ENDPOINT_FIELDS = URL_FIELDS | TOKEN_FIELDS
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
_REGION = re.compile(r"^[a-z0-9-]{1,64}$")
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data",
                            "instance-data.ec2.internal", "metadata.azure.internal"})
_REGEX_CHARS = frozenset("^$*+?()[]{}|\\")

HOW_TO_ALLOW = ("To allow it, set general_settings.allow_client_side_credentials: true, or list it in "
                "the deployment's litellm_params.configurable_clientside_auth_params.")


def endpoint_fields_in(body: dict[str, Any]) -> list[str]:
    return [key for key in body if key in ENDPOINT_FIELDS and body[key] is not None]


def check_value(key: str, value: Any, allow_metadata_hosts: bool, where: str | None = None) -> None:
    """Refuse a value that could point a call somewhere other than it appears to."""
    param = where or key
    if not isinstance(value, str):
        raise BadRequestError(f"{param} must be a string", param=key, code="invalid_type")
    if key in URL_FIELDS:
        check_url(param, value, allow_metadata_hosts)
    elif "region" in key:
        if not _REGION.match(value):
            raise BadRequestError(f"{param} must be a region name (lower-case letters, digits and '-')",
                                  param=key, code="invalid_value")
    elif not _TOKEN.match(value) or ".." in value or "@" in value:
        raise BadRequestError(f"{param} has characters a {key} never has", param=key, code="invalid_value")


def check_url(param: str, url: str, allow_metadata_hosts: bool) -> tuple[str, str, int]:
    """(scheme, host, port) of a safe http(s) URL, or a 400 saying why not."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BadRequestError(f"{param} is not a valid URL", param=param, code="invalid_value") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequestError(f"{param} must be an http:// or https:// URL with a host", param=param,
                              code="invalid_value")
    if "@" in parts.netloc or parts.username is not None:
        raise BadRequestError(f"{param} must not contain user-info ('user@host')", param=param, code="invalid_value")
    if any(c in url for c in "\r\n\t ") or not url.isprintable():
        raise BadRequestError(f"{param} contains whitespace or control characters", param=param,
                              code="invalid_value")
    host = parts.hostname.rstrip(".").lower()
    if not allow_metadata_hosts and is_metadata_host(host):
        raise PermissionDeniedError(
            f"{param} points at a link-local or cloud-metadata address, which a client may not reach through this "
            "gateway (general_settings.allow_client_side_metadata_hosts: true allows it).",
            param=param, code="clientside_api_base_not_allowed")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def is_metadata_host(host: str) -> bool:
    """Link-local (169.254/16, fe80::/10), AWS's fd00:ec2::254, and the metadata names; any
    spelling of an IPv4 address the C resolver accepts (decimal, hex, octal, short forms)."""
    if host in METADATA_HOSTS or host.endswith(".internal") and host.startswith("metadata"):
        return True
    address = _as_ip(host)
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address == ipaddress.IPv6Address("fd00:ec2::254"):
            return True
    return address.is_link_local


def _as_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:  # "2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "169.254.43518": what inet_aton accepts
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def pattern_allows(pattern: str, url: str) -> bool:
    """Does an admin's ``configurable_clientside_auth_params`` entry allow this URL?

    A plain URL allows exactly its scheme, host and port, and paths under its
    path. Anything with regex syntax must match the whole URL (user-info is
    refused before this is asked)."""
    if not set(pattern) & _REGEX_CHARS:
        try:
            want, got = urlsplit(pattern), urlsplit(url)
            want_port = want.port or (443 if want.scheme == "https" else 80)
            got_port = got.port or (443 if got.scheme == "https" else 80)
        except ValueError:
            return False
        if (want.scheme, (want.hostname or "").lower(), want_port) != (got.scheme, (got.hostname or "").lower(),
                                                                       got_port):
            return False
        base = want.path.rstrip("/")
        return not base or got.path == base or got.path.startswith(base + "/")
    try:
        return re.fullmatch(pattern, url.rstrip("/")) is not None or re.fullmatch(pattern, url) is not None
    except re.error:
        return False


def deployment_allows(entries: Any, key: str, value: str) -> bool:
    """One deployment's ``configurable_clientside_auth_params`` and one client field."""
    for item in entries or []:
        if item == key:
            return True
        if isinstance(item, dict) and isinstance(item.get(key), str) and key in URL_FIELDS:
            if pattern_allows(item[key], value):
                return True
    return False


def refuse(key: str, group: str) -> PermissionDeniedError:
    code = "clientside_api_base_not_allowed" if key in ("api_base", "base_url") else "clientside_param_not_allowed"
    return PermissionDeniedError(f"A client-side {key} is not allowed for model {group!r}. {HOW_TO_ALLOW}",
                                 param=key, code=code)
