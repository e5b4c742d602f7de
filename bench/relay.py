"""The minimal seed-style relay that Coucou is measured against.

An ``AsyncWebsocketConsumer`` that joins its user's group and relays every ``group_send``
as a JSON frame: no numbering, no history, no auth (the user comes from ``?user=``), no
replay. Served by daphne as ``bench.relay:application`` with ``bench.relay_settings``.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import parse_qs

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.relay_settings")
django_asgi_app = get_asgi_application()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


class RelayConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = parse_qs(self.scope["query_string"].decode())["user"][0]
        self.group = f"user.{int(user)}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def relay_event(self, message: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(message["event"]))


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([path("ws/relay/", RelayConsumer.as_asgi())]),
    }
)
