"""HTTP goes to Django; ``/ws/events/`` goes through Origin checks and socket auth.

With ``DEBUG`` on, HTTP serves ``/static/`` too (the demo page, coucou.js), as ``runserver``
does; in production the proxy serves the collected files (``manage.py collectstatic``).
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from api.tokens import auser_for_token  # noqa: E402
from realtime import backpressure, conf  # noqa: E402
from realtime.auth import SocketAuthMiddleware  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402

backpressure.install(conf.get().slow_reader)

application = ProtocolTypeRouter(
    {
        "http": ASGIStaticFilesHandler(django_asgi_app) if settings.DEBUG else django_asgi_app,
        "websocket": SessionMiddlewareStack(
            SocketAuthMiddleware(URLRouter(websocket_urlpatterns), authenticate_bearer=auser_for_token)
        ),
    }
)
