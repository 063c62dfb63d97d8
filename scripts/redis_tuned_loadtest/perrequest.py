"""The guide's "before": a new Redis connection for every operation.

Pools whose connections are closed as soon as they are released, so that each command
pays a TCP connect and redis-py's handshake (HELLO/CLIENT SETINFO), as code that builds
a client per request does. No limit on their number: that code has none either.
"""

from __future__ import annotations

import copy
from typing import Any

import redis
import redis.asyncio
from channels_redis.core import RedisChannelLayer

UNBOUNDED = 2**31


class DisconnectingPool(redis.ConnectionPool):
    """django-redis's pool for the per-request variant."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("timeout", None)  # BlockingConnectionPool's wait, meaningless here
        kwargs["max_connections"] = UNBOUNDED
        super().__init__(**kwargs)

    def release(self, connection: Any) -> None:
        connection.disconnect()
        super().release(connection)


class AsyncDisconnectingPool(redis.asyncio.ConnectionPool):
    """channels_redis's pool for the per-request variant."""

    async def release(self, connection: Any) -> None:
        await connection.disconnect()
        await super().release(connection)


class PerOperationChannelLayer(RedisChannelLayer):
    """channels_redis's core layer with a new connection per command."""

    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        host["max_connections"] = UNBOUNDED
        address = host.pop("address")
        return AsyncDisconnectingPool.from_url(address, **host)


def rewrite(channel_layers: dict[str, Any], caches: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """The generated settings with the same addresses and socket options, but no pooling."""
    layers, cache = copy.deepcopy(channel_layers), copy.deepcopy(caches)
    layers["default"]["BACKEND"] = f"{__name__}.PerOperationChannelLayer"
    options = cache["default"].setdefault("OPTIONS", {})
    options["CONNECTION_POOL_CLASS"] = f"{__name__}.DisconnectingPool"
    return layers, cache
