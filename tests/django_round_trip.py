"""Run as a script: python django_round_trip.py SETTINGS.py [KEY_PREFIX]

A real Django configured with the CHANNEL_LAYERS and CACHES of a generated settings
snippet (its passwords from the environment, as the snippet reads them): a group
round trip through the channel layer (channels_redis) and a set/get through the
cache (django-redis or Django's own). Prints what came back as JSON; the tests
that deploy a server compare it. KEY_PREFIX: the cache's, where the server's ACL
user may only touch keys under it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import django
from django.conf import settings


async def group_round_trip(layer: Any) -> dict[str, Any]:
    """A message sent to a group comes back to the channel that joined it."""
    name = await layer.new_channel()
    await layer.group_add("room", name)
    await layer.group_send("room", {"type": "chat.message", "text": "hi"})
    message = await asyncio.wait_for(layer.receive(name), 10)
    await layer.group_discard("room", name)
    return dict(message)


def main(path: str, prefix: str = "") -> None:
    namespace: dict[str, Any] = {}
    exec(compile(Path(path).read_text(), path, "exec"), namespace)  # the generated snippet
    caches = namespace["CACHES"]
    if prefix:
        caches["default"]["KEY_PREFIX"] = prefix
    settings.configure(INSTALLED_APPS=[], CHANNEL_LAYERS=namespace["CHANNEL_LAYERS"], CACHES=caches)
    django.setup()
    from channels.layers import get_channel_layer
    from django.core.cache import cache

    cache.set("greeting", "hello", 30)
    message = asyncio.run(group_round_trip(get_channel_layer()))
    print(json.dumps({"message": message, "cache": cache.get("greeting")}))


if __name__ == "__main__":
    main(*sys.argv[1:])
