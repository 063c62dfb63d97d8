"""The ASGI application uvicorn serves: HTTP to Django, WebSockets to the room consumer."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "redis_tuned_loadtest.app.settings")

from redis_tuned_loadtest import gcwatch

gcwatch.install()  # the capacity study reads this process's GC pauses (GET /gc)
if os.environ.get("REDIS_TUNED_LOADTEST_GC") == "freeze":
    gcwatch.freeze_every(2.0)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.urls import path  # noqa: E402

django_application = get_asgi_application()

from redis_tuned_loadtest.app.consumers import RoomConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": URLRouter([path("ws/room/<int:room>", RoomConsumer.as_asgi())]),
    }
)
