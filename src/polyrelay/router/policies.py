"""Per-error-class retry counts and allowed fails: LiteLLM's ``RetryPolicy``
and ``AllowedFailsPolicy``, as objects or as the dicts a config holds.

``RetryPolicy(RateLimitErrorRetries=3, AuthenticationErrorRetries=0)``: a
field that is set replaces the Router's ``num_retries`` for errors of that
class (even ones it would not retry by default); an unset field leaves the
default alone. ``AllowedFailsPolicy`` does the same for ``allowed_fails``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from ..errors import (
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    InternalServerError,
    PolyrelayError,
    RateLimitError,
    Timeout,
)

# Most specific first: a content-policy error is also a bad request.
_CLASSES: tuple[tuple[str, type[PolyrelayError]], ...] = (
    ("ContentPolicyViolationError", ContentPolicyViolationError),
    ("BadRequestError", BadRequestError),
    ("AuthenticationError", AuthenticationError),
    ("TimeoutError", Timeout),
    ("RateLimitError", RateLimitError),
    ("InternalServerError", InternalServerError),
)


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    BadRequestErrorRetries: int | None = None
    AuthenticationErrorRetries: int | None = None
    TimeoutErrorRetries: int | None = None
    RateLimitErrorRetries: int | None = None
    ContentPolicyViolationErrorRetries: int | None = None
    InternalServerErrorRetries: int | None = None


class AllowedFailsPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    BadRequestErrorAllowedFails: int | None = None
    AuthenticationErrorAllowedFails: int | None = None
    TimeoutErrorAllowedFails: int | None = None
    RateLimitErrorAllowedFails: int | None = None
    ContentPolicyViolationErrorAllowedFails: int | None = None
    InternalServerErrorAllowedFails: int | None = None


class ClassTable:
    """A policy flattened once into (error class, count) pairs, so a failure
    costs one short isinstance walk, not a pydantic lookup."""

    __slots__ = ("_pairs",)

    def __init__(self, policy: BaseModel | None, suffix: str) -> None:
        pairs = []
        for name, cls in _CLASSES:
            value = getattr(policy, name + suffix, None) if policy is not None else None
            if value is not None:
                if value < 0:
                    raise BadRequestError(f"{type(policy).__name__}.{name}{suffix} must be at least 0; got {value}")
                pairs.append((cls, int(value)))
        self._pairs = tuple(pairs)

    def __bool__(self) -> bool:
        return bool(self._pairs)

    def get(self, exc: BaseException) -> int | None:
        for cls, value in self._pairs:
            if isinstance(exc, cls):
                return value
        return None


def as_policy(cls: type[BaseModel], value: Any, setting: str) -> BaseModel | None:
    """The policy from an object or a config dict; a wrong key is refused by name."""
    if value is None or isinstance(value, cls):
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if not isinstance(value, dict):
        raise BadRequestError(f"{setting} must be a {cls.__name__} or a mapping; got {type(value).__name__}")
    unknown = sorted(set(value) - set(cls.model_fields))
    if unknown:
        raise BadRequestError(f"{setting} has unknown field(s) {', '.join(unknown)}; known: "
                              f"{', '.join(cls.model_fields)}")
    try:
        return cls(**value)
    except ValueError as exc:
        raise BadRequestError(f"{setting} is invalid: {exc}") from exc
