"""Django settings of the application under test.

CHANNEL_LAYERS and CACHES are the snippet ``redis-tuned-clients settings`` generated,
read from the file named by REDIS_TUNED_LOADTEST_SNIPPET; with
REDIS_TUNED_LOADTEST_VARIANT=per-request their pools are swapped for ones that open a
new connection per operation (redis_tuned_loadtest.perrequest). The capacity study's
setups: REDIS_TUNED_LOADTEST_LAYER=pubsub puts channels_redis's pubsub layer in place of
the core one; REDIS_TUNED_LOADTEST_UNIX=<path> has the channel layer reach the same
instance on its unix socket (redis_tuned_loadtest.variants).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from redis_tuned_loadtest import perrequest, variants


def _generated() -> dict[str, Any]:
    path = Path(os.environ["REDIS_TUNED_LOADTEST_SNIPPET"])
    names: dict[str, Any] = {}
    exec(compile(path.read_text(), str(path), "exec"), names)  # our own generated file
    return names


SECRET_KEY = secrets.token_urlsafe(32)  # nothing signed outlives the process
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["channels"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "redis_tuned_loadtest.app.urls"
ASGI_APPLICATION = "redis_tuned_loadtest.app.asgi.application"
USE_TZ = True
DATABASES: dict[str, Any] = {}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}

_names = _generated()
CHANNEL_LAYERS: dict[str, Any] = _names["CHANNEL_LAYERS"]
CACHES: dict[str, Any] = _names["CACHES"]
if os.environ.get("REDIS_TUNED_LOADTEST_VARIANT") == "per-request":
    CHANNEL_LAYERS, CACHES = perrequest.rewrite(CHANNEL_LAYERS, CACHES)
if os.environ.get("REDIS_TUNED_LOADTEST_LAYER") == "pubsub":
    CHANNEL_LAYERS = variants.pubsub(CHANNEL_LAYERS)
if os.environ.get("REDIS_TUNED_LOADTEST_UNIX"):
    CHANNEL_LAYERS = variants.unix_socket(CHANNEL_LAYERS, os.environ["REDIS_TUNED_LOADTEST_UNIX"])
