"""The role's ACL rule strings per use (redis_tuned_acl_rules), proved against each
library's whole API, as an ACL user made the way the role makes one: what the library
does is allowed, what an application has no business doing is refused.

Issue 18 #5: channels_redis's pubsub layer publishes a general (non-specific) channel
under its own name, no prefix, so "&asgi*" refused it; django-redis's cache.keys()
sends KEYS, which "-@dangerous" refused.
"""

from __future__ import annotations

import asyncio
from typing import Any

import django
import pytest
import redis
from clients_support import role_rules
from django.conf import settings as django_settings

PASSWORD = "acl-rules-test-secret"


@pytest.fixture(scope="module", autouse=True)
def django_configured() -> None:
    if not django_settings.configured:
        django_settings.configure(INSTALLED_APPS=[], CHANNEL_LAYERS={}, CACHES={})
        django.setup()


def refuses_what_no_application_needs(server: Any) -> None:
    app = redis.Redis(port=server.port, username="app", password=PASSWORD)
    for refused in (app.flushall, lambda: app.config_set("maxmemory", "1"), app.shutdown):
        with pytest.raises(redis.exceptions.NoPermissionError):
            refused()


def host(server: Any) -> dict[str, Any]:
    return {"address": f"redis://app:{PASSWORD}@127.0.0.1:{server.port}/0"}


async def exercise_layer(layer: Any) -> list[Any]:
    """Everything a Channels application asks of its layer: specific and general
    channels, groups, flush, close."""
    seen = []
    specific = await layer.new_channel()
    receiving = asyncio.ensure_future(layer.receive(specific))
    await asyncio.sleep(0.2)  # the pubsub layer subscribes on the first receive
    await layer.send(specific, {"type": "to.specific"})
    seen.append(await asyncio.wait_for(receiving, 10))
    general = asyncio.ensure_future(layer.receive("thumbnails"))  # a worker channel
    await asyncio.sleep(0.2)
    await layer.send("thumbnails", {"type": "to.general"})
    seen.append(await asyncio.wait_for(general, 10))
    await layer.group_add("room", specific)
    receiving = asyncio.ensure_future(layer.receive(specific))
    await asyncio.sleep(0.2)
    await layer.group_send("room", {"type": "to.group"})
    seen.append(await asyncio.wait_for(receiving, 10))
    await layer.group_discard("room", specific)
    await layer.flush()
    close = getattr(layer, "close_pools", None) or layer.flush
    await close()
    return seen


LAYERS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}


@pytest.mark.parametrize("use", ["channels", "guide"])
@pytest.mark.parametrize("layer", list(LAYERS))
def test_each_channel_layer_does_everything_under_the_channels_rules(
    redis_server: Any, layer: str, use: str
) -> None:
    from django.utils.module_loading import import_string

    server = redis_server()
    server.add_user("app", PASSWORD, role_rules(use))

    async def run() -> list[Any]:
        return await exercise_layer(import_string(LAYERS[layer])(hosts=[host(server)]))

    seen = asyncio.run(run())
    assert [m["type"] for m in seen] == ["to.specific", "to.general", "to.group"]
    refuses_what_no_application_needs(server)


def exercise_django_redis(cache: Any) -> None:
    cache.set("a", 1, 30)
    cache.set("b:1", 2, 30)
    assert cache.get("a") == 1 and cache.has_key("a")
    assert sorted(cache.keys("*")) == ["a", "b:1"]
    assert sorted(cache.iter_keys("b:*")) == ["b:1"]
    assert cache.delete_pattern("b:*") == 1
    assert 0 < cache.ttl("a") <= 30
    assert cache.persist("a") and cache.ttl("a") is None
    assert cache.expire("a", 20)
    with cache.lock("the-lock", timeout=5):
        pass
    cache.set_many({"m1": 1, "m2": 2})
    assert cache.get_many(["m1", "m2"]) == {"m1": 1, "m2": 2}
    assert cache.incr("m1") == 2
    cache.zadd("board", {"x": 1, "y": 2})
    assert cache.zrange("board", 0, -1) == ["x", "y"]
    cache.sadd("set", "s")
    assert cache.smembers("set") == {"s"}
    cache.touch("a", 10)
    cache.clear()
    assert cache.get("a") is None


def exercise_django_own(cache: Any) -> None:
    cache.set("a", 1, 30)
    assert cache.get("a") == 1 and cache.has_key("a")
    cache.set_many({"m1": 1, "m2": 2})
    assert cache.get_many(["m1", "m2"]) == {"m1": 1, "m2": 2}
    assert cache.incr("m1") == 2 and cache.touch("a", 10)
    assert cache.add("new", 1) and not cache.add("new", 2)
    cache.delete_many(["m1", "m2"])
    cache.clear()
    assert cache.get("a") is None


CACHES = {
    "django-redis": ("django_redis.cache.RedisCache", exercise_django_redis),
    "django": ("django.core.cache.backends.redis.RedisCache", exercise_django_own),
}


@pytest.mark.parametrize("use", ["cache", "guide"])
@pytest.mark.parametrize("backend", list(CACHES))
def test_each_cache_backend_does_everything_under_the_cache_rules(
    redis_server: Any, backend: str, use: str
) -> None:
    from django.core.cache.backends.base import BaseCache
    from django.utils.module_loading import import_string

    server = redis_server()
    server.add_user("app", PASSWORD, role_rules(use))
    path, exercise = CACHES[backend]
    cache: BaseCache = import_string(path)(host(server)["address"], {})
    exercise(cache)
    cache.close()
    refuses_what_no_application_needs(server)
