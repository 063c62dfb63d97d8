"""The ASGI application uvicorn serves: HTTP to Django, WebSockets to the room consumer."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "redis_tuned_loadtest.app.settings")

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application
from django.urls import path

django_application = get_asgi_application()

from redis_tuned_loadtest.app.consumers import RoomConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": URLRouter([path("ws/room/<int:room>", RoomConsumer.as_asgi())]),
    }
)
