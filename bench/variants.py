"""Coucou with the consumer change recommended in bench/RESULTS.md, to measure it.

Channels' ``AsyncConsumer.dispatch`` awaits ``aclose_old_connections()`` before *every*
handler: a hop to the one thread-sensitive executor thread and back, per relayed frame. The
live-event handler touches no database, so this consumer skips that hop for it. Wired like
``config/asgi.py``; served as ``bench.variants:application``.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402
from django.urls import path  # noqa: E402

from api.tokens import auser_for_token  # noqa: E402
from realtime import backpressure, conf  # noqa: E402
from realtime.auth import SocketAuthMiddleware  # noqa: E402
from realtime.consumers import EventsConsumer  # noqa: E402
from realtime.stream import RELAY_MESSAGE_TYPE  # noqa: E402


class FastDispatchEventsConsumer(EventsConsumer):
    async def dispatch(self, message: dict[str, Any]) -> None:
        if message["type"] == RELAY_MESSAGE_TYPE:
            await self.realtime_event(message)  # no database here: no close_old_connections hop
        else:
            await super().dispatch(message)


backpressure.install(conf.get().slow_reader)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SessionMiddlewareStack(
            SocketAuthMiddleware(
                URLRouter([path("ws/events/", FastDispatchEventsConsumer.as_asgi())]),
                authenticate_bearer=auser_for_token,
            )
        ),
    }
)
