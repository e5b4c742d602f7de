"""``/metrics``: Prometheus metrics of this process, behind a guard; and the HTTP request count.

The guard (``METRICS_TOKEN``, ``METRICS_ALLOWED_IPS``) admits a scrape that carries
``Authorization: Bearer <token>`` or comes from an allowed address; with neither set the
endpoint does not exist (404). The address is the peer's (``REMOTE_ADDR``): behind a proxy it
is the proxy's, so there the token is the guard, or the proxy keeps ``/metrics`` to itself.
Workers serve their pool's metrics with the same guard (config/worker.py).

With ``METRICS_ENABLED`` off nothing is collected (realtime/metrics.py), the request count
below is not installed, and ``/metrics``, the web's and each worker's, answers 404: no guard
admits a scrape of metrics that do not exist.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, generate_latest

from jobs.backlog import JobBacklog
from realtime.metrics import ENABLED, collecting

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

http_requests = collecting(Counter)(
    "coucou_http_requests",
    "HTTP requests answered, by method, route pattern (unmatched: no route) and status.",
    ["method", "route", "status"],
)
# The queue's depth from the Job rows, read at each scrape of a web process (jobs/backlog.py):
# in a registry of its own, so that nothing else (tests, the workers) queries for it.
BACKLOG = CollectorRegistry()
BACKLOG.register(JobBacklog())
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@functools.cache
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)
    except ValueError as exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {exc}") from None


def guard_configured() -> bool:
    """Whether ``/metrics`` exists: metrics collected, and a token or an allowlist to admit a scrape."""
    return ENABLED and bool(settings.METRICS_TOKEN or settings.METRICS_ALLOWED_IPS)


def admits(authorization: str | None, remote_addr: str | None) -> bool:
    """Whether a scrape with this ``Authorization`` header, from this address, may read metrics."""
    token: str = settings.METRICS_TOKEN
    if token and authorization:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    networks = _networks(tuple(settings.METRICS_ALLOWED_IPS))
    if networks and remote_addr:
        try:
            address = ipaddress.ip_address(remote_addr)
        except ValueError:
            return False
        return any(address in network for network in networks)
    return False


def exposition(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    return generate_latest(registry), CONTENT_TYPE_LATEST


def metrics_view(request: HttpRequest) -> HttpResponse:
    """This web process's metrics (sockets, frames, HTTP requests) and the job backlog, in
    Prometheus' text format."""
    if not guard_configured():
        raise Http404
    if not admits(request.headers.get("Authorization"), request.META.get("REMOTE_ADDR")):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    body, content_type = exposition()
    return HttpResponse(body + generate_latest(BACKLOG), content_type=content_type)


class RequestMetrics:
    """Counts each HTTP request by method, route pattern and status (``coucou_http_requests_total``).

    The route is the URL pattern that matched (``/api/jobs/<job_id>``), never the path a client
    sent, so the series stay a closed set.
    """

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        if not ENABLED:
            raise MiddlewareNotUsed  # Django leaves it out of the chain: no cost per request
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        response = self.get_response(request)
        match = request.resolver_match
        route = "/" + match.route if match is not None else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        http_requests.labels(method, route, str(response.status_code)).inc()
        return response
