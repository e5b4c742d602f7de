"""HTTP goes to Django on a pool of threads; ``/ws/events/`` goes through Origin checks and
socket auth to the Channels consumer.

Every view of Coucou is synchronous. Django's ASGI handler would run each request in async
mode: each middleware's ``process_request`` / ``process_response`` and the view hop to a new
per-request thread and back, about a dozen hops (bench/RESULTS.md, "Changes made"). a2wsgi
runs Django's WSGI handler instead, the whole request on one thread of a fixed pool
(``HTTP_THREADS``), as gunicorn would, while daphne keeps serving the sockets on the event
loop. Database connections then live per pool thread, so ``CONN_MAX_AGE`` works as under
WSGI.

With ``DEBUG`` on, HTTP serves ``/static/`` too (the demo page, coucou.js), as ``runserver``
does; in production the proxy serves the collected files (``manage.py collectstatic``).
"""

from __future__ import annotations

import gc
import os
from typing import Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_wsgi_app = get_wsgi_application()

from a2wsgi import WSGIMiddleware  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import StaticFilesHandler  # noqa: E402

from api.tokens import auser_for_token  # noqa: E402
from config.http import ChunkedBodies, add_reason_phrases  # noqa: E402
from realtime import conf, ws_protocol  # noqa: E402
from realtime.auth import CookieSessions, SocketAuthMiddleware  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402

add_reason_phrases()
ws_protocol.install(conf.get().slow_reader)  # daphne builds each socket as Coucou's subclass

# django-stubs types a WSGI handler's answer as HttpResponseBase, a2wsgi as Iterable[bytes].
wsgi_app: Any = StaticFilesHandler(django_wsgi_app) if settings.DEBUG else django_wsgi_app

application = ProtocolTypeRouter(
    {
        "http": ChunkedBodies(
            WSGIMiddleware(wsgi_app, workers=settings.HTTP_THREADS),
            max_bytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
        ),
        "websocket": CookieSessions(
            SocketAuthMiddleware(URLRouter(websocket_urlpatterns), authenticate_bearer=auser_for_token)
        ),
    }
)

# Everything imported so far lives as long as the process: out of the garbage collector's
# reach, a full collection walks only what sockets and requests allocate (bench/RESULTS.md,
# "Full garbage collections").
gc.collect()
gc.freeze()
