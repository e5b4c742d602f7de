"""Canary: EventsConsumer skips one step of Channels' dispatch for relayed events only.

If an upgrade of Channels changes ``AsyncConsumer.dispatch``, this fails, naming what to
re-check: whether relayed events may still skip it (docs/internals.md, "Channels' dispatch").
"""

from __future__ import annotations

import hashlib
import inspect
from typing import Any

import channels
import channels.consumer
import pytest

from realtime.consumers import EventsConsumer
from realtime.stream import RELAY_MESSAGE_TYPE

# The source of channels.consumer.AsyncConsumer.dispatch in channels 4.3.x: look up the
# handler, await aclose_old_connections(), await the handler.
CHECKED = {"39f34e7d4fb0f6552de4ade665b943fe78137379702af6b58c79a14c49a75520"}


def test_channels_dispatch_is_the_one_the_fast_path_was_checked_against():
    source = inspect.getsource(channels.consumer.AsyncConsumer.dispatch)
    digest = hashlib.sha256(source.encode()).hexdigest()
    assert digest in CHECKED, (
        f"channels {channels.__version__} changed AsyncConsumer.dispatch:\n{source}\n"
        "EventsConsumer.dispatch sends relayed events past it: check that they may still skip "
        'what it does now (docs/internals.md, "Channels\' dispatch"), then add its digest here.'
    )


@pytest.mark.asyncio
async def test_only_relayed_events_skip_closing_old_connections(monkeypatch):
    closes: list[str] = []
    handled: list[str] = []

    async def counting_close() -> None:
        closes.append("close")

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counting_close)
    consumer = EventsConsumer()

    async def realtime_event(message: dict[str, Any]) -> None:
        handled.append(message["type"])

    async def websocket_receive(message: dict[str, Any]) -> None:
        handled.append(message["type"])

    consumer.realtime_event = realtime_event  # type: ignore[method-assign]
    consumer.websocket_receive = websocket_receive  # type: ignore[method-assign]
    await consumer.dispatch({"type": RELAY_MESSAGE_TYPE, "seq": 1})
    assert (handled, closes) == ([RELAY_MESSAGE_TYPE], [])
    await consumer.dispatch({"type": "websocket.receive", "text": "{}"})
    assert (handled, closes) == ([RELAY_MESSAGE_TYPE, "websocket.receive"], ["close"])
