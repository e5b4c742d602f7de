"""Canaries: each dependency internal Coucou relies on, checked for what Coucou needs of it.

A failure names the internal and its entry in docs/internals.md, which says what it is for
and how to do without it. Digests pin code that Coucou replaces: when one changes, re-read
the new code against the entry, then add its digest.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import itertools
import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from daphne.ws_protocol import WebSocketFactory
from daphne.ws_protocol import WebSocketProtocol as DaphneProtocol

import config.asgi  # noqa: F401 - installs Coucou's protocol class, as the web process does
from realtime import backpressure
from realtime.ws_protocol import CoucouWebSocketProtocol

ROOT = Path(__file__).resolve().parent.parent
BUFFER = 'docs/internals.md, "Twisted\'s write buffer"'
FACTORY = 'docs/internals.md, "daphne\'s protocol class"'
PING = 'docs/internals.md, "autobahn\'s ping"'
KOMBU = 'docs/internals.md, "kombu\'s Redis client"'
CELERY = 'docs/internals.md, "Celery\'s event flush"'


def digest(function: Any) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()


@cache
def probe(name: str) -> dict[str, Any]:
    """What ``tests/internals_probe.py`` saw on real sockets (a reactor of its own)."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.internals_probe", name],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"the {name} probe failed:\n{done.stderr[-3000:]}"
    return dict(json.loads(done.stdout.splitlines()[-1]))


# --- Twisted's write buffer (realtime/backpressure.py) ---------------------------------------


def test_twisteds_write_buffer_still_reads_as_coucou_reads_it() -> None:
    try:
        backpressure.check_buffer_reading()  # what the web process runs at start-up
    except RuntimeError as exc:
        pytest.fail(str(exc))


def test_the_start_up_check_refuses_a_count_that_stays_at_zero(monkeypatch) -> None:
    monkeypatch.setattr(backpressure, "buffered_bytes", lambda transport: 0)
    with pytest.raises(RuntimeError, match=r"changed what its write-buffer fields mean.*Twisted's write"):
        backpressure.check_buffer_reading()


def test_the_start_up_check_names_a_field_that_is_gone(monkeypatch) -> None:
    monkeypatch.setattr(backpressure, "buffered_bytes", lambda transport: transport._tempDataLength)
    with pytest.raises(RuntimeError, match="no longer has the write-buffer field '_tempDataLength'"):
        backpressure.check_buffer_reading()


@pytest.mark.skipif(sys.platform != "linux", reason="reads the kernel's socket queues with Linux ioctls")
def test_a_real_socket_whose_peer_does_not_read_counts_every_unsent_byte() -> None:
    seen = probe("twisted")
    total, stalled = seen["total"], seen["stalled"]
    assert seen["after_writes"] == total, (
        f"10 MB written to a Twisted TCP transport, buffered_bytes() read {seen['after_writes']} ({BUFFER})"
    )
    assert stalled["buffered"] > 0, (
        "Twisted's buffer holds what the kernel did not take, yet buffered_bytes() reads 0: the 4008 "
        f"slow-reader limit and the replay's pacing would never see a slow reader ({BUFFER})"
    )
    in_kernel = stalled["kernel_unsent"] + stalled["kernel_unread"]
    assert stalled["buffered"] + in_kernel == total, (
        f"buffered_bytes() read {stalled['buffered']} while the kernel held {in_kernel} of the {total} "
        f"bytes written: it no longer counts exactly what Twisted has not sent ({BUFFER})"
    )
    assert seen["read"] == {"received": total, "buffered": 0}, (
        f"once the peer read everything, buffered_bytes() read {seen['read']['buffered']} ({BUFFER})"
    )


# --- daphne's protocol class (realtime/ws_protocol.py) ----------------------------------------


def test_daphnes_factory_builds_coucous_protocol() -> None:
    assert WebSocketFactory.protocol is CoucouWebSocketProtocol
    server = type("Server", (), {"server_class": None})
    built = WebSocketFactory(server, server="daphne").buildProtocol(("127.0.0.1", 1))
    assert type(built) is CoucouWebSocketProtocol, (
        f"daphne's WebSocketFactory.buildProtocol built a {type(built)!r}, not the class in its "
        f"`protocol` attribute: Coucou's slow-reader limit and ping timers are not installed ({FACTORY})"
    )


def test_daphnes_server_builds_its_sockets_with_that_factory() -> None:
    # Read, not imported: importing daphne.server installs its reactor in this process.
    spec = importlib.util.find_spec("daphne.server")
    assert spec is not None and spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text())
    imports = {
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    run = next(
        node
        for cls in tree.body
        if isinstance(cls, ast.ClassDef) and cls.name == "Server"
        for node in cls.body
        if isinstance(node, ast.FunctionDef) and node.name == "run"
    )
    builds = [
        node
        for node in ast.walk(run)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "WebSocketFactory"
    ]
    assert ("ws_protocol", "WebSocketFactory") in imports and builds, (
        "daphne's Server.run no longer builds daphne.ws_protocol.WebSocketFactory: setting its "
        f"`protocol` would not reach the sockets ({FACTORY})"
    )


@pytest.mark.parametrize(
    ("name", "parameters"),
    [
        ("onOpen", ["self"]),
        ("onClose", ["self", "wasClean", "code", "reason"]),
        ("serverSend", ["self", "content", "binary"]),
    ],
)
def test_the_daphne_methods_coucou_extends_keep_their_signatures(name: str, parameters: list[str]) -> None:
    found = list(inspect.signature(getattr(DaphneProtocol, name)).parameters)
    assert found == parameters, (
        f"daphne's WebSocketProtocol.{name} now takes {found}, not {parameters}: "
        f"CoucouWebSocketProtocol.{name} must follow ({FACTORY})"
    )


def test_every_frame_daphne_sends_goes_through_server_send() -> None:
    source = inspect.getsource(DaphneProtocol.handle_reply)
    assert "self.serverSend(" in source and "sendMessage" not in source, (
        "daphne's handle_reply no longer sends frames through serverSend: the slow-reader check "
        f"in CoucouWebSocketProtocol.serverSend would be skipped ({FACTORY})"
    )


def test_real_daphne_closes_a_socket_that_stops_reading_with_4008() -> None:
    seen = probe("daphne")
    assert seen["protocols"] == ["CoucouWebSocketProtocol"], (
        f"daphne's Server built {seen['protocols']} for its sockets ({FACTORY})"
    )
    flood = seen["flood"]
    assert flood["most_buffered"] > seen["limits"]["hard"], (
        f"a socket flooded with 10 MB that reads nothing reached {flood['most_buffered']} bytes in "
        f"backpressure.buffered_for(), never past the hard limit ({BUFFER})"
    )
    assert any("closing slow reader" in line and "with 4008" in line for line in seen["log"]), seen["log"]
    assert flood["disconnect"]["type"] == "websocket.disconnect"  # dropped after the close timeout


# --- autobahn's ping, daphne's last_ping (realtime/pings.py) ---------------------------------


def test_autobahns_auto_ping_is_still_a_method_without_arguments() -> None:
    from autobahn.websocket.protocol import WebSocketProtocol

    method = getattr(WebSocketProtocol, "_sendAutoPing", None)
    assert method is not None and list(inspect.signature(method).parameters) == ["self"], (
        f"autobahn's WebSocketProtocol._sendAutoPing() is gone or takes arguments ({PING})"
    )


def test_daphne_still_keeps_the_ping_clock_pings_py_moves() -> None:
    checks = inspect.getsource(DaphneProtocol.check_timeouts)
    received = inspect.getsource(DaphneProtocol.onMessage)
    connected = inspect.getsource(DaphneProtocol.onConnect)
    assert "self._sendAutoPing()" in checks and "self.server.ping_interval" in checks, (
        f"daphne's check_timeouts no longer pings with _sendAutoPing after server.ping_interval ({PING})"
    )
    assert "self.last_ping = time.time()" in received and "self.last_ping = time.time()" in connected, (
        "daphne no longer sets last_ping (time.time()) when a socket opens and on each frame from "
        f"the client: pings.py would ping sockets that talk, or at the wrong time ({PING})"
    )


def test_real_daphne_pings_a_quiet_socket_on_its_own_timer_and_drops_it_unanswered() -> None:
    quiet = probe("daphne")["quiet"]  # --ping-interval 0.3, --ping-timeout 2; the client never pongs
    pings = quiet["pings_at"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(pings)]
    assert len(pings) >= 2 and all(0.15 < gap < 0.6 for gap in gaps), (
        f"a quiet socket was pinged at {pings} s, not every 0.3 s ({PING})"
    )
    # autobahn's timers round to whole seconds: the timeout fires 1-2 s after the first ping.
    assert pings[0] + 0.9 < quiet["dropped_at"] < pings[0] + 2.5, (
        f"pinged first at {pings[0]} s and dropped at {quiet['dropped_at']} s: _sendAutoPing no "
        f"longer arms autobahn's --ping-timeout ({PING})"
    )


# --- kombu's Redis client (config/broker.py) --------------------------------------------------

# kombu 5.7.0: a new client per call, the thing config/broker.py replaces.
KOMBU_CONN_OR_ACQUIRE = {"25883caca6c4121e73463ac71db4a7037981634eb84b715c2280edaa609c080a"}


def test_kombus_conn_or_acquire_is_the_one_broker_py_replaces() -> None:
    from kombu.transport import redis

    assert digest(redis.Channel.conn_or_acquire) in KOMBU_CONN_OR_ACQUIRE, (
        f"kombu changed redis.Channel.conn_or_acquire:\n{inspect.getsource(redis.Channel.conn_or_acquire)}\n"
        "config/broker.py replaces it: check whether kombu now keeps its client (then remove the "
        f"override) and that the override still does what it did, then add its digest ({KOMBU})"
    )


def test_kombus_create_client_still_builds_on_the_channels_pool(redis_db) -> None:
    from kombu.transport import redis

    from config.celery_app import app

    assert list(inspect.signature(redis.Channel._create_client).parameters) == ["self", "asynchronous"]
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        client = channel._create_client()
        assert client.connection_pool is channel.pool, (
            f"kombu's Channel._create_client() no longer builds a client on Channel.pool ({KOMBU})"
        )


def test_redis_urls_still_resolve_to_coucous_transport() -> None:
    from kombu import transport

    from config.broker import Transport

    assert isinstance(getattr(transport, "_transport_cache", None), dict), (
        "kombu.transport._transport_cache is gone: broker.install() may not replace a transport "
        f"kombu resolved already ({KOMBU})"
    )
    for scheme in ("redis", "rediss"):
        assert transport.get_transport_cls(scheme) is Transport, (
            f"{scheme}:// resolves to {transport.get_transport_cls(scheme)!r} ({KOMBU})"
        )


# --- Celery's event flush (config/worker.py) --------------------------------------------------

# celery 5.6.3: flush from the hub's ready queue (replaced); flush the event dispatcher (called).
CELERY_ON_SEND_EVENT_BUFFERED = {"ffb767d8f9696374ef334c7f3efd84e1d484a9d22874722fd894da886170820e"}
CELERY_FLUSH_EVENTS = {"2f39dd2416515bf0521151ebfa50f3c6bf6ec1e0648089a24ae5a914bfa56df0"}


def test_celerys_event_flush_is_the_one_worker_py_replaces() -> None:
    from celery.worker.consumer import Consumer

    for method, known in (
        (Consumer.on_send_event_buffered, CELERY_ON_SEND_EVENT_BUFFERED),
        (Consumer._flush_events, CELERY_FLUSH_EVENTS),
    ):
        assert digest(method) in known, (
            f"Celery changed Consumer.{method.__name__}:\n{inspect.getsource(method)}\n"
            f"config/worker.py overrides or calls it: re-check it, then add its digest ({CELERY})"
        )


def test_celery_still_calls_the_consumers_hook_when_it_buffers_an_event() -> None:
    from celery.worker.consumer.events import Events

    assert "on_send_buffered=c.on_send_event_buffered" in inspect.getsource(Events.start), (
        f"Celery's Events step no longer wires Consumer.on_send_event_buffered into its dispatcher ({CELERY})"
    )


def test_kombus_hub_runs_on_close_callbacks_when_it_closes_or_resets() -> None:
    from kombu.asynchronous.hub import Hub

    assert list(inspect.signature(Hub.call_later).parameters) == ["self", "delay", "callback", "args"]
    calls: list[str] = []
    for end in ("reset", "close"):
        hub = Hub()
        hub.on_close.add(lambda hub, end=end: calls.append(end))
        getattr(hub, end)()
    assert calls == ["reset", "close"], (
        f"kombu's Hub ran its on_close callbacks on {calls} of reset() and close(): events pending "
        f"at a broker reconnect or a shutdown would be lost ({CELERY})"
    )
