"""``from litellm.integrations.custom_logger import CustomLogger``, as polyrelay."""

from ..observe.custom_logger import CustomLogger

__all__ = ["CustomLogger"]
