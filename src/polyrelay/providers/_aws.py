"""What the AWS adapters (Bedrock, SageMaker) share: the credential arguments
LiteLLM takes, the region's shape and where a region comes from, and which
values must never reach a log or an error."""

from __future__ import annotations

import os
import re

from ..errors import BadRequestError
from .base import Call

AWS_ARGS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_region_name")
REGION = re.compile(r"^[a-z0-9-]{1,64}$")  # it becomes part of the host name: nothing else gets in


def env_region() -> str | None:
    # LiteLLM's name first (its users set AWS_REGION_NAME), then the AWS SDKs' own.
    for name in ("AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION"):
        value = os.environ.get(name)
        if value:
            return value
    return None


def secret_values(call: Call) -> tuple[str, ...]:
    found = [*call.creds.secrets(), os.environ.get("AWS_SECRET_ACCESS_KEY"), os.environ.get("AWS_SESSION_TOKEN")]
    return tuple(s for s in found if s)


def region_of(call: Call, provider: str) -> str | None:
    """The call's region (``aws_region_name``, else the environment), checked: it becomes part
    of the host name, and "x@evil:80/" would send the signed request elsewhere."""
    region = call.creds.extra.get("aws_region_name") or env_region()
    if region and not REGION.match(region):
        raise BadRequestError(f"{provider} region {region[:64]!r} is not a region name (lower-case letters, digits "
                              "and '-')", llm_provider=provider, model=call.model, param="aws_region_name")
    return region


def endpoint(call: Call, provider: str, host: str) -> tuple[str, str]:
    """(base URL, signing region): ``api_base`` if given, else ``https://{host}.{region}.amazonaws.com``.
    With an ``api_base`` and no region (a proxy or a test server) requests are signed for us-east-1."""
    region = region_of(call, provider)
    base = (call.creds.api_base or "").rstrip("/")
    if not base:
        if not region:
            raise BadRequestError(f"{provider} needs a region: pass aws_region_name= or set AWS_REGION_NAME or "
                                  "AWS_REGION", llm_provider=provider, model=call.model)
        base = f"https://{host}.{region}.amazonaws.com"
    return base, region or "us-east-1"
