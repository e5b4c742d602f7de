"""The per-process sweep: sockets behind their user's latest seq are told to catch up."""

from __future__ import annotations

import gc

import pytest

from realtime import publish
from realtime.sweep import Sweep

pytestmark = [pytest.mark.usefixtures("redis_db"), pytest.mark.asyncio]


class Socket:
    def __init__(self, sent: int) -> None:
        self.sent = sent
        self.told: list[int] = []

    def catch_up(self, latest: int) -> None:
        self.told.append(latest)


async def test_only_the_sockets_behind_their_users_latest_seq_catch_up() -> None:
    for _ in range(3):
        publish(1, "ping")
    publish(2, "ping")
    behind, current, other_user = Socket(sent=1), Socket(sent=3), Socket(sent=1)
    sweep = Sweep(interval=60)
    sweep.add(1, behind)
    sweep.add(1, current)
    sweep.add(2, other_user)
    await sweep.sweep_once()
    assert (behind.told, current.told, other_user.told) == ([3], [], [])
    sweep.task.cancel()


async def test_a_socket_that_left_is_not_swept_and_a_user_without_sockets_is_dropped() -> None:
    publish(1, "ping")
    leaving, staying = Socket(sent=0), Socket(sent=0)
    sweep = Sweep(interval=60)
    sweep.add(1, leaving)
    sweep.add(1, staying)
    sweep.discard(1, leaving)
    await sweep.sweep_once()
    assert (leaving.told, staying.told) == ([], [1])
    sweep.discard(1, staying)
    assert not sweep.followers
    sweep.task.cancel()


async def test_a_socket_gone_without_discard_is_forgotten_by_the_next_sweep() -> None:
    publish(1, "ping")
    sweep = Sweep(interval=60)
    sweep.add(1, Socket(sent=0))
    gc.collect()
    await sweep.sweep_once()
    assert not sweep.followers
    sweep.task.cancel()
