"""What the AWS adapters (Bedrock, SageMaker) share: the credential arguments
LiteLLM takes, the region's shape and where a region comes from, and which
values must never reach a log or an error."""

from __future__ import annotations

import os
import re

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
