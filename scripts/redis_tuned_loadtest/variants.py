"""The capacity study's variants of the generated CHANNEL_LAYERS: the same instance and
pool options, another layer or another transport."""

from __future__ import annotations

import copy
import urllib.parse
from typing import Any

PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"
# Options of a TCP connection that redis-py's unix-socket connection refuses (TypeError).
TCP_ONLY = ("socket_keepalive", "socket_keepalive_options")


def pubsub(channel_layers: dict[str, Any]) -> dict[str, Any]:
    """channels_redis's pubsub layer (PUBLISH/SUBSCRIBE, no per-channel queues in
    Redis) on the same hosts; its hosts take the core layer's form."""
    layers = copy.deepcopy(channel_layers)
    layers["default"]["BACKEND"] = PUBSUB
    return layers


def unix_url(address: str, path: str) -> str:
    """A redis:// URL's credentials and database on a unix socket instead."""
    url = urllib.parse.urlsplit(address)
    auth = url.netloc.rpartition("@")[0]
    db = url.path.strip("/") or "0"
    return f"unix://{auth + '@' if auth else ''}{path}?db={db}"


def unix_socket(channel_layers: dict[str, Any], path: str) -> dict[str, Any]:
    """The layer's hosts reached on the instance's unix socket ``path``: the same
    user, password, database and pool, without the TCP keepalive options."""
    layers = copy.deepcopy(channel_layers)
    for host in layers["default"]["CONFIG"]["hosts"]:
        if not host["address"].startswith("redis://"):
            raise ValueError("a unix socket replaces a plain redis:// address only")
        host["address"] = unix_url(host["address"], path)
        for key in TCP_ONLY:
            host.pop(key, None)
    return layers
