"""What docs/clients.md's app-side notes claim, measured against a real redis-server with
the real channels_redis: sync code calling ``async_to_sync(layer.group_send)`` opens
a connection per call (the layer's pool belongs to the event loop, and each
async_to_sync runs a loop of its own); one async_to_sync around all the sends
opens one."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels_redis.core import RedisChannelLayer
from clients_support import ADMIN_PASSWORD


def _received(server: Any) -> int:
    return int(server.admin.info("stats")["total_connections_received"])


def test_each_sync_group_send_opens_a_connection_one_loop_opens_one(redis_server) -> None:  # type: ignore[no-untyped-def]
    server = redis_server()
    layer = RedisChannelLayer(hosts=[f"redis://:{ADMIN_PASSWORD}@127.0.0.1:{server.port}/0"])
    before = _received(server)
    for i in range(20):
        async_to_sync(layer.group_send)("room", {"type": "chat.message", "n": i})
    per_call = _received(server) - before

    async def all_at_once() -> None:
        for i in range(20):
            await layer.group_send("room", {"type": "chat.message", "n": i})

    before = _received(server)
    async_to_sync(all_at_once)()
    batched = _received(server) - before
    assert (per_call, batched) == (20, 1)
