"""The per-user event stream: numbering, history, replay windows, and the live relay."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime
from typing import Any

import orjson
import pytest
from channels.layers import get_channel_layer

from realtime import publish
from realtime.groups import RUN_KEY, group_for, head_key, stream_key
from realtime.stream import read_after

pytestmark = pytest.mark.usefixtures("redis_db")

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def frames(user_id: int, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
    return [orjson.loads(frame) for _, frame in read_after(user_id, after, limit).frames]


def test_publish_numbers_each_users_events_contiguously_and_independently():
    assert [publish(1, "ping") for _ in range(3)] == [1, 2, 3]
    assert [publish(2, "ping") for _ in range(2)] == [1, 2]
    assert publish(1, "ping") == 4
    assert [f["seq"] for f in frames(1)] == [1, 2, 3, 4]
    assert [f["seq"] for f in frames(2)] == [1, 2]


def test_a_frame_has_the_designed_shape():
    publish(7, "job.progress", {"current": 3, "total": 10, "percent": 30.0, "message": "é"}, job="3f0c")
    publish(7, "coucou")
    [(seq, raw), (_, raw2)] = read_after(7, 0, 10).frames
    frame = orjson.loads(raw)
    assert seq == 1
    assert list(frame) == ["seq", "epoch", "type", "job", "ts", "data"]
    assert frame["epoch"] == read_after(7, 0, 0).epoch
    assert frame["type"] == "job.progress"
    assert frame["job"] == "3f0c"
    assert TS.match(frame["ts"]), frame["ts"]
    assert frame["data"] == {"current": 3, "total": 10, "percent": 30.0, "message": "é"}
    bare = orjson.loads(raw2)
    assert (bare["seq"], bare["type"], bare["job"], bare["data"]) == (2, "coucou", None, {})


def test_read_after_returns_the_frames_after_seq_in_order():
    for i in range(1, 11):
        publish(1, "n", {"i": i})
    history = read_after(1, 6, 100)
    assert history.latest == 10
    assert [seq for seq, _ in history.frames] == [7, 8, 9, 10]
    assert [orjson.loads(f)["data"]["i"] for _, f in history.frames] == [7, 8, 9, 10]
    assert history.last_seq == 10
    assert not history.resync


def test_read_after_pages_with_limit():
    for _ in range(5):
        publish(1, "n")
    first = read_after(1, 0, 2)
    assert [seq for seq, _ in first.frames] == [1, 2]
    assert [seq for seq, _ in read_after(1, first.last_seq, 2).frames] == [3, 4]


def test_nothing_after_the_latest_seq():
    publish(1, "n")
    history = read_after(1, 1, 10)
    assert (history.latest, history.frames, history.resync, history.last_seq) == (1, [], False, None)
    empty = read_after(99, 0, 10)
    assert (empty.latest, empty.frames, empty.resync) == (0, [], False)


def test_resync_when_asked_for_events_were_trimmed(settings):
    settings.REALTIME_STREAM_MAXLEN = 10
    for _ in range(600):
        publish(1, "n")
    # XADD MAXLEN ~ trims whole stream nodes (100 entries each): more than 10 stay, far fewer than 600.
    kept = read_after(1, 0, 1000)
    assert kept.latest == 600
    assert 10 <= len(kept.frames) < 300
    assert kept.resync
    first_kept = kept.frames[0][0]
    assert [seq for seq, _ in kept.frames] == list(range(first_kept, 601))
    # Asking from just before the oldest kept event loses nothing: no resync.
    assert not read_after(1, first_kept - 1, 1000).resync
    assert read_after(1, first_kept - 2, 1000).resync


def test_resync_when_the_client_is_ahead_of_the_server():
    publish(1, "n")
    history = read_after(1, 5, 10)
    assert history.resync
    # Then the epoch's retained events, from its start.
    assert (history.latest, history.start, [seq for seq, _ in history.frames]) == (1, 0, [1])


def test_events_older_than_max_age_are_trimmed(settings):
    settings.REALTIME_STREAM_MAX_AGE_S = 1
    publish(1, "old")
    publish(1, "old")
    time.sleep(1.05)
    publish(1, "new")
    history = read_after(1, 0, 10)
    assert [seq for seq, _ in history.frames] == [3]
    assert history.resync


@pytest.mark.asyncio
async def test_contract_a_publish_reaches_the_users_group_through_the_channel_layer():
    """What the consumer relies on: the Lua PUBLISH is a message channels-redis delivers."""
    layer = get_channel_layer()
    mine, other = await layer.new_channel(), await layer.new_channel()
    await layer.group_add(group_for(5), mine)
    await layer.group_add(group_for(6), other)
    try:
        seq = await asyncio.to_thread(publish, 5, "coucou", {"message": "coucou alice"}, job="j-1")
        message = await asyncio.wait_for(layer.receive(mine), timeout=2)
        epoch = (await asyncio.to_thread(read_after, 5, 0, 0)).epoch
        assert message == {
            "type": "realtime.event",
            "seq": seq,
            "epoch": epoch,
            "frame": message["frame"],
            "t": message["t"],
        }
        frame = orjson.loads(message["frame"])
        # t: the publish time in ms, the frame's ts, for the publish-to-send latency histogram.
        published = datetime.fromisoformat(frame["ts"].replace("Z", "+00:00"))
        assert message["t"] == round(published.timestamp() * 1000)
        assert frame["seq"] == seq == 1
        assert frame["type"] == "coucou"
        assert frame["job"] == "j-1"
        assert frame["data"] == {"message": "coucou alice"}
        # The live frame is byte for byte the stored one.
        stored = (await asyncio.to_thread(read_after, 5, 0, 10)).frames
        assert stored == [(1, message["frame"].encode())]
        # Another user's group hears nothing.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(layer.receive(other), timeout=0.3)
    finally:
        await layer.group_discard(group_for(5), mine)
        await layer.group_discard(group_for(6), other)


# --- epochs: a seq means something only within its epoch ------------------------------------


def test_the_epoch_stays_while_the_history_is_whole():
    first = read_after(1, 0, 0).epoch
    publish(1, "n")
    publish(1, "n")
    history = read_after(1, 0, 10)
    assert history.epoch == first
    assert {orjson.loads(f)["epoch"] for _, f in history.frames} == {first}
    assert not read_after(1, 1, 10, first).resync


def test_a_lost_head_starts_a_new_epoch_and_a_reader_of_the_old_one_gets_resync(redis_db):
    for _ in range(5):
        publish(1, "old")
    old = read_after(1, 0, 0).epoch
    redis_db.flushdb()  # Redis restarted empty
    publish(1, "new")
    history = read_after(1, 5, 10, old)
    assert history.epoch != old
    assert history.resync
    assert (history.latest, history.start) == (1, 0)
    assert [orjson.loads(f)["type"] for _, f in history.frames] == ["new"]


def test_a_stream_last_checked_under_another_redis_process_gets_a_new_epoch(redis_db):
    """A restart from an older snapshot, or a failover to a lagging replica: seqs may repeat."""
    for _ in range(3):
        publish(1, "before")
    old = read_after(1, 0, 0).epoch
    redis_db.hset(head_key(1), "r", "0" * 40)  # what the snapshot holds: the old process's run
    publish(1, "after")  # seq 4 again, perhaps, but under a new epoch
    history = read_after(1, 3, 10, old)
    assert history.epoch != old
    assert history.resync
    assert history.start == 3  # the new epoch starts where the restored history ended
    assert [(seq, orjson.loads(f)["type"]) for seq, f in history.frames] == [(4, "after")]
    assert orjson.loads(history.frames[0][1])["epoch"] == history.epoch
    # A reader of the new epoch resumes within it, without resync.
    assert not read_after(1, 3, 10, history.epoch).resync


def test_a_seq_that_went_back_within_an_epoch_gives_resync(redis_db):
    for _ in range(5):
        publish(1, "n")
    epoch = read_after(1, 0, 0).epoch
    redis_db.hset(head_key(1), "s", 2)
    history = read_after(1, 5, 10, epoch)
    assert history.resync
    assert history.latest == 2


def test_a_new_epoch_numbers_above_every_id_its_stream_held(redis_db):
    for _ in range(5):
        publish(1, "n")
    redis_db.hset(head_key(1), mapping={"s": 2, "r": "0" * 40})  # a head behind its own stream
    assert publish(1, "n") == 6
    history = read_after(1, 5, 10)
    assert [seq for seq, _ in history.frames] == [6]


def test_a_new_connection_records_the_redis_process_it_reached(redis_db):
    read_after(1, 0, 0)
    run_id = redis_db.info("server")["run_id"]
    assert redis_db.get(RUN_KEY).decode() == run_id
    redis_db.set(RUN_KEY, "0" * 40)
    from realtime.redis import sync_client

    sync_client().connection.disconnect()  # the next command reconnects, as after a restart
    read_after(1, 0, 0)
    assert redis_db.get(RUN_KEY).decode() == run_id


def test_a_stream_written_past_its_head_gets_a_new_epoch_above_it(redis_db):
    """An older Coucou writing the same stream during an upgrade must not stop publishing."""
    publish(1, "n")
    old = read_after(1, 0, 0).epoch
    redis_db.xadd(stream_key(1), {"t": 0, "f": "{}"}, id="500-0")  # written by someone else
    assert publish(1, "n") == 501
    history = read_after(1, 1, 10, old)
    assert history.resync and history.epoch != old
    assert [seq for seq, _ in history.frames] == [501]
