"""The per-process sweep: sockets whose (seq, epoch) is not their user's are told to catch up."""

from __future__ import annotations

import gc

import pytest

from realtime import publish
from realtime.groups import head_key, user_stream
from realtime.stream import read_after
from realtime.sweep import Sweep

pytestmark = [pytest.mark.usefixtures("redis_db"), pytest.mark.asyncio]


class Socket:
    def __init__(self, sent: int, epoch: str | None = None) -> None:
        self.sent = sent
        self.epoch = epoch if epoch is not None else read_after(1, 0, 0).epoch
        self.told = 0

    def catch_up(self) -> None:
        self.told += 1


async def test_only_the_sockets_behind_their_users_latest_seq_catch_up() -> None:
    for _ in range(3):
        publish(1, "ping")
    publish(2, "ping")
    behind, current = Socket(sent=1), Socket(sent=3)
    other_user = Socket(sent=1, epoch=read_after(2, 0, 0).epoch)
    sweep = Sweep(interval=60)
    sweep.add(user_stream(1), behind)
    sweep.add(user_stream(1), current)
    sweep.add(user_stream(2), other_user)
    await sweep.sweep_once()
    assert (behind.told, current.told, other_user.told) == (1, 0, 0)
    sweep.task.cancel()


async def test_a_socket_that_left_is_not_swept_and_a_user_without_sockets_is_dropped() -> None:
    publish(1, "ping")
    leaving, staying = Socket(sent=0), Socket(sent=0)
    sweep = Sweep(interval=60)
    sweep.add(user_stream(1), leaving)
    sweep.add(user_stream(1), staying)
    sweep.discard(user_stream(1), leaving)
    await sweep.sweep_once()
    assert (leaving.told, staying.told) == (0, 1)
    sweep.discard(user_stream(1), staying)
    assert not sweep.followers
    sweep.task.cancel()


async def test_a_socket_gone_without_discard_is_forgotten_by_the_next_sweep() -> None:
    publish(1, "ping")
    sweep = Sweep(interval=60)
    sweep.add(user_stream(1), Socket(sent=0))
    gc.collect()
    await sweep.sweep_once()
    assert not sweep.followers
    sweep.task.cancel()


async def test_a_history_that_went_back_or_changed_epoch_is_caught_up(redis_db) -> None:
    for _ in range(3):
        publish(1, "ping")
    publish(2, "ping")
    ahead = Socket(sent=5)  # saw seqs this epoch never reached: Redis rewound
    old_epoch = Socket(sent=1, epoch=read_after(2, 0, 0).epoch)
    sweep = Sweep(interval=60)
    sweep.add(user_stream(1), ahead)
    sweep.add(user_stream(2), old_epoch)
    # As after a restart from a snapshot: the stream was last checked under another Redis process.
    redis_db.hset(head_key(2), "r", "0" * 40)
    await sweep.sweep_once()
    assert (ahead.told, old_epoch.told) == (1, 1)
    assert read_after(2, 0, 0).epoch != old_epoch.epoch
    sweep.task.cancel()


async def test_a_socket_behind_only_by_frames_still_on_their_way_is_left_alone_one_sweep() -> None:
    publish(1, "ping")
    sweep = Sweep(interval=60)
    socket = Socket(sent=1)
    sweep.add(user_stream(1), socket)
    await sweep.sweep_once()
    publish(1, "ping")  # seq 2, relayed but not yet sent when the sweep looks
    await sweep.sweep_once()
    assert socket.told == 0
    await sweep.sweep_once()  # still not sent a whole interval later: lost, caught up
    assert socket.told == 1
    sweep.task.cancel()
