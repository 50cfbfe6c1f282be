"""MULTIMAP commands for redis-py: ``MultiMap(redis.Redis(...)).insert("k", "f", "v")``."""

from .client import AsyncMultiMap, MultiMap, MultiMapPipeline
from .commands import COMMANDS, MultiMapCommands

__all__ = ["COMMANDS", "AsyncMultiMap", "MultiMap", "MultiMapCommands", "MultiMapPipeline"]
