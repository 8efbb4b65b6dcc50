"""Load balancing, retries, fallbacks and cooldowns across deployments."""

from .policies import AllowedFailsPolicy, RetryPolicy
from .router import Router
from .state import MemoryState, RedisState

__all__ = ["AllowedFailsPolicy", "MemoryState", "RedisState", "RetryPolicy", "Router"]
