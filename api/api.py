from __future__ import annotations

from ninja import NinjaAPI

from api import errors
from api.auth import api_auth
from api.routers import events, jobs, output, realtime, system
from chat.api import router as chat_router
from liveblog.api import router as liveblog_router

api = NinjaAPI(
    title="Coucou",
    version="1.0.0",
    description="Background jobs that talk back: start jobs, follow them live over /ws/events/.",
    auth=api_auth,
    urls_namespace="api",
)
api.add_router("/", system.router)
api.add_router("/", jobs.router)
api.add_router("/", output.router)
api.add_router("/", events.router)
api.add_router("/", realtime.router)
api.add_router("/", chat_router)
api.add_router("/", liveblog_router)
errors.install(api)
