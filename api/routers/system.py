# No "from __future__ import annotations": django-ninja resolves annotations at runtime.
from django.db import connection
from django.http import HttpRequest
from ninja import Router, Status

from api.schemas import HealthOut
from jobs import broker
from realtime.redis import probe

router = Router(tags=["system"])


@router.get("/health", response={200: HealthOut, 503: HealthOut}, auth=None, exclude_none=True)
def health(request: HttpRequest) -> Status[dict[str, object]]:
    """Liveness of the web process and its dependencies (public: for load balancers).

    ``redis`` is the realtime Redis (REALTIME_REDIS_URL), ``broker`` Celery's broker
    (CELERY_BROKER_URL): by default the same Redis, checked twice.
    """
    parts = {"db": _check_db(), "redis": probe(), "broker": broker.probe()}
    failing = [name for name, ok in parts.items() if not ok]
    if failing:
        detail = " and ".join(failing) + " unreachable"
        return Status(503, {"status": "unavailable", **parts, "detail": detail})
    return Status(200, {"status": "ok", **parts})


def _check_db() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        return False
