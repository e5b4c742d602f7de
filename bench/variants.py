"""Coucou with the consumer change recommended in bench/RESULTS.md, to measure it.

Channels' ``AsyncConsumer.dispatch`` awaits ``aclose_old_connections()`` before *every*
handler: a hop to the process's one thread-sensitive executor thread and back, per relayed
frame and per client frame. ``EventsConsumer`` never touches the database (the socket is
authenticated by the middleware, whose lookups close their own connections), so this
consumer dispatches without the hop. Wired like ``config/asgi.py``; served as
``bench.variants:application``.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.consumer import get_handler_name  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402
from django.urls import path  # noqa: E402

from api.tokens import auser_for_token  # noqa: E402
from realtime import backpressure, conf  # noqa: E402
from realtime.auth import SocketAuthMiddleware  # noqa: E402
from realtime.consumers import EventsConsumer  # noqa: E402


class FastDispatchEventsConsumer(EventsConsumer):
    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)  # no database here: no close_old_connections hop


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
