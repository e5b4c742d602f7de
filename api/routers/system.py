# No "from __future__ import annotations": django-ninja resolves annotations at runtime.
from django.db import connection
from django.http import HttpRequest
from redis.exceptions import RedisError

from api.schemas import HealthOut
from ninja import Router
from realtime.redis import sync_client

router = Router(tags=["system"])


@router.get("/health", response={200: HealthOut, 503: HealthOut}, auth=None)
def health(request: HttpRequest) -> tuple[int, dict[str, object]]:
    """Liveness of the web process and its two dependencies (public: for load balancers)."""
    db = _check_db()
    redis_ok = _check_redis()
    failing = [name for name, ok in (("db", db), ("redis", redis_ok)) if not ok]
    if failing:
        detail = " and ".join(failing) + " unreachable"
        return 503, {"status": "unavailable", "db": db, "redis": redis_ok, "detail": detail}
    return 200, {"status": "ok", "db": db, "redis": redis_ok}


def _check_db() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        return False


def _check_redis() -> bool:
    try:
        return bool(sync_client().ping())
    except (RedisError, OSError):
        return False
