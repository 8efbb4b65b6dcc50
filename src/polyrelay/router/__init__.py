"""Load balancing, retries, fallbacks and cooldowns across deployments."""

from .router import Router
from .state import MemoryState, RedisState

__all__ = ["MemoryState", "RedisState", "Router"]
