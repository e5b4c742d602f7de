"""A bound on what daphne buffers for a socket that stopped reading.

ASGI has no backpressure: daphne writes every frame into Twisted's transport buffer, which
grows without limit while a client does not read. ``CoucouWebSocketProtocol``
(``realtime/ws_protocol.py``) checks the buffer before each frame, with limits modelled on
Redis's own output-buffer limits: past the hard limit, or above the soft limit for longer
than the grace period, it stops sending and queues a close with code 4008 ("slow reader"). A
client that still does not read never sees that frame: the connection is dropped when the
close handshake times out. A client that is merely slower than a burst for a moment keeps
its socket. A closed client reconnects with ``?after=`` and loses nothing.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, cast

from realtime.weaklists import WeakLists


@dataclass(frozen=True)
class Limits:
    soft_bytes: int
    hard_bytes: int
    grace_s: float
    close_timeout_s: float


def buffered_bytes(transport: Any) -> int:
    """Bytes written to a Twisted ``FileDescriptor`` and not yet taken by the kernel.

    Twisted has no public call for it (docs/internals.md, "Twisted's write buffer"):
    ``check_buffer_reading()`` proves at start-up that these fields still mean it.
    """
    return int(len(transport.dataBuffer) - transport.offset + transport._tempDataLen)


def check_buffer_reading() -> None:
    """Raise unless ``buffered_bytes`` counts what Twisted's own write path leaves unsent."""
    import twisted  # here, not at the top: the worker imports this module too
    from twisted.internet.abstract import FileDescriptor

    class Probe(FileDescriptor):
        """No socket: its "kernel" takes ``accepts`` bytes per write."""

        connected = 1
        accepts = 0

        def startWriting(self) -> None:
            pass

        def stopWriting(self) -> None:
            pass

        def writeSomeData(self, data: bytes) -> int:
            return min(self.accepts, len(data))

    probe = Probe(reactor=cast(Any, object()))  # never asked: the probe neither reads nor polls
    write_out: Any = probe.doWrite  # what the reactor calls when the socket is writable
    steps: list[tuple[str, int, int]] = []
    try:
        probe.write(b"x" * 100)  # queued, not yet written
        steps.append(("after write(100 bytes)", buffered_bytes(probe), 100))
        probe.accepts = 30
        write_out()  # the kernel took 30
        steps.append(("after a doWrite() that sent 30", buffered_bytes(probe), 70))
        probe.write(b"y" * 50)
        steps.append(("after write(50 more bytes)", buffered_bytes(probe), 120))
        probe.accepts = 1000
        write_out()  # the kernel took the rest
        steps.append(("after a doWrite() that sent the rest", buffered_bytes(probe), 0))
    except AttributeError as exc:
        raise RuntimeError(
            f"Twisted {twisted.__version__} no longer has the write-buffer field {exc.name!r}: "
            "the 4008 slow-reader limit cannot read a socket's unsent bytes "
            '(docs/internals.md, "Twisted\'s write buffer")'
        ) from exc
    wrong = [f"{step}: {got}, not {expected}" for step, got, expected in steps if got != expected]
    if wrong:
        raise RuntimeError(
            f"Twisted {twisted.__version__} changed what its write-buffer fields mean; "
            f"buffered_bytes() read {'; '.join(wrong)}. The 4008 slow-reader limit would not hold "
            '(docs/internals.md, "Twisted\'s write buffer")'
        )


def too_slow(protocol: Any, limits: Limits, now: float) -> bool:
    """Whether the socket must be closed with 4008; the protocol closes it on True and asks
    no more, so a True is counted here as that close (coucou_ws_closes_total)."""
    buffered = buffered_bytes(protocol.transport)
    if buffered > limits.hard_bytes or (
        buffered > limits.soft_bytes and _over_soft_limit(protocol, limits, now)
    ):
        from realtime.metrics import CLOSED_SLOW  # here: the worker imports this module too

        CLOSED_SLOW.inc()
        return True
    if buffered <= limits.soft_bytes:
        protocol._coucou_over_since = None
    return False


def _over_soft_limit(protocol: Any, limits: Limits, now: float) -> bool:
    since: float | None = protocol._coucou_over_since
    if since is None:
        protocol._coucou_over_since = now
        return False
    return now - since > limits.grace_s


# Open sockets by the ``client`` address daphne puts in their scope, so that the app can ask
# how much of what it sent is still unsent (see ``drained``).
_open: WeakLists[tuple[Any, ...], Any] = WeakLists()


def buffered_for(client: Any) -> int | None:
    """Bytes still unsent on the socket of this scope's ``client``; None when unknown."""
    sockets = _open.get(tuple(client)) if client else []
    if len(sockets) != 1:  # unknown, or ambiguous behind a proxy's headers
        return None
    return buffered_bytes(sockets[0].transport)


def track(protocol: Any) -> None:
    if protocol.client_addr:
        _open.add(tuple(protocol.client_addr), protocol)


def untrack(protocol: Any) -> None:
    if protocol.client_addr:
        _open.discard(tuple(protocol.client_addr), protocol)


async def drained(client: Any, *, below: int, timeout: float) -> bool:
    """Wait until the socket's unsent bytes fall below ``below``; False after ``timeout``.

    Lets a replay of thousands of events go at the client's pace instead of piling them all
    into daphne's buffer (where they would trip the slow-reader limit of a healthy client).
    """
    deadline = time.monotonic() + timeout
    while (buffered := buffered_for(client)) is not None and buffered > below:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True
