"""HTTP goes to Django; ``/ws/events/`` goes through Origin checks and socket auth."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402

from api.tokens import auser_for_token  # noqa: E402
from realtime import backpressure, conf  # noqa: E402
from realtime.auth import SocketAuthMiddleware  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402

backpressure.install(conf.get().slow_reader)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SessionMiddlewareStack(
            SocketAuthMiddleware(URLRouter(websocket_urlpatterns), authenticate_bearer=auser_for_token)
        ),
    }
)
