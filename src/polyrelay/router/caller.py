"""Which failures are the caller's doing, not the deployment's.

A deployment is shared: one caller must not be able to take it offline
for everyone. A call that brings its own credentials or endpoint (its
``api_key``, ``api_base``, headers...) or mock options fails for reasons
the deployment does not own, so none of its failures count toward the
deployment's allowed fails or cooldown, and its latency is not the
deployment's. A call that only sets its own ``timeout`` is the
deployment's for every error but the timeouts that are shorter than the
deployment's own.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..errors import PolyrelayError, Timeout

# Arguments that change who answers or what it answers (credentials, endpoint,
# headers, per-provider credential fields, mock behaviour).
OWNING_ARGS = frozenset({
    "api_key", "api_base", "base_url", "api_version", "azure_ad_token", "extra_headers", "headers",
    "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_region_name", "aws_profile_name",
    "aws_role_name", "aws_web_identity_token", "aws_bedrock_runtime_endpoint", "vertex_project",
    "vertex_location", "vertex_credentials", "organization", "cloudflare_account_id",
    "mock_response", "mock_status", "mock_delay", "mock_token_delay", "mock_timeout", "mock_tool_calls",
    "mock_testing_fallbacks", "mock_testing_context_fallbacks", "mock_testing_content_policy_fallbacks",
    "mock_testing_rate_limit_error",
})
TIMEOUT_ARGS = ("timeout", "request_timeout", "stream_timeout")
_ANY = OWNING_ARGS | frozenset(TIMEOUT_ARGS)


class CallerShape(NamedTuple):
    owned: bool  # every failure is the caller's
    timeout: float | None  # the caller's own timeout, if it set one


NOT_SHAPED = CallerShape(False, None)


def caller_shape(kwargs: dict[str, Any]) -> CallerShape:
    if _ANY.isdisjoint(kwargs):
        return NOT_SHAPED  # the common case: one set operation, nothing allocated
    owned = any(kwargs.get(k) is not None for k in OWNING_ARGS.intersection(kwargs))
    timeout = next((kwargs[k] for k in TIMEOUT_ARGS if kwargs.get(k) is not None), None)
    try:
        timeout = None if timeout is None else float(getattr(timeout, "read", None) or timeout)
    except (TypeError, ValueError):
        timeout = 0.0  # not a number we can compare: count its timeouts as the caller's
    return CallerShape(owned, timeout)


def callers_fault(shape: CallerShape, exc: PolyrelayError, deployment_timeout: float | None) -> bool:
    """Whether this failure says nothing about the deployment's health."""
    if shape.owned:
        return True
    if shape.timeout is None or not isinstance(exc, Timeout):
        return False
    # A timeout at least as long as the deployment's own is the deployment's fault.
    return deployment_timeout is None or shape.timeout < float(deployment_timeout)
