# No "from __future__ import annotations": django-ninja resolves annotations at runtime.
from django.db import connection
from django.http import HttpRequest
from ninja import Router, Status

from api.schemas import HealthOut
from realtime.redis import probe

router = Router(tags=["system"])


@router.get("/health", response={200: HealthOut, 503: HealthOut}, auth=None, exclude_none=True)
def health(request: HttpRequest) -> Status[dict[str, object]]:
    """Liveness of the web process and its two dependencies (public: for load balancers)."""
    db = _check_db()
    redis_ok = probe()
    failing = [name for name, ok in (("db", db), ("redis", redis_ok)) if not ok]
    if failing:
        detail = " and ".join(failing) + " unreachable"
        return Status(503, {"status": "unavailable", "db": db, "redis": redis_ok, "detail": detail})
    return Status(200, {"status": "ok", "db": db, "redis": redis_ok})


def _check_db() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        return False
