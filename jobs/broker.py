"""The Celery broker as the jobs domain needs it: reachable or not, for health checks."""

from __future__ import annotations

from celery import current_app

# Redis-type brokers (redis://, sentinel://) read their socket timeouts from the transport
# options; AMQP from connect_timeout.
_QUICK = {"socket_timeout": 1, "socket_connect_timeout": 1}


def probe() -> bool:
    """One quick connection to the broker, whatever it is, on a fresh connection."""
    options = dict(current_app.conf.broker_transport_options or {})
    if "socket_timeout" in options:
        options.update(_QUICK)
    connection = current_app.connection_for_write(connect_timeout=1, transport_options=options)
    try:
        connection.connect()  # a Redis channel PINGs when it opens; AMQP opens a connection
        return True
    except Exception:  # noqa: BLE001 - any failure means unreachable
        return False
    finally:
        connection.release()
