"""ctx.stream(key): the writer's batches, its order, close, cap, keys and cancel, on real Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import msgpack
import orjson
import pytest
import redis as redis_lib
from django.conf import settings as django_settings

from jobs.exceptions import JobCancelled, OutputTooLarge
from jobs.output import FRAME_BYTES, OutputWriter, data_key, read_output
from realtime import conf as realtime_conf
from realtime.groups import pubsub_channel_for
from realtime.transient import TRANSIENT_MESSAGE_TYPE
from tests.jobs.fakes import FakeClock, RecordingContext
from tests.jobs.test_builtins import run

JOB = "00000000-0000-0000-0000-0000000000aa"
OWNER = 7


class Relay:
    """What the owner's sockets would be sent: the output frames PUBLISHed on the user's group."""

    def __init__(self, user_id: int) -> None:
        self.client = redis_lib.Redis.from_url(django_settings.REDIS_URL)
        self.pubsub = self.client.pubsub()
        self.pubsub.subscribe(pubsub_channel_for(user_id, realtime_conf.get().channel_prefix))
        assert self.pubsub.get_message(timeout=2)["type"] == "subscribe"

    def frames(self, wait: float = 0.2) -> list[dict[str, Any]]:
        frames = []
        while (message := self.pubsub.get_message(timeout=wait)) is not None:
            relayed = msgpack.unpackb(message["data"])
            assert relayed["type"] == TRANSIENT_MESSAGE_TYPE
            frames.append(orjson.loads(relayed["frame"]))
        return frames

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()


@pytest.fixture
def relay(redis_db: redis_lib.Redis) -> Iterator[Relay]:
    listening = Relay(OWNER)
    yield listening
    listening.close()


def writer(clock: FakeClock, key: str = "text", **options: Any) -> OutputWriter:
    return OutputWriter(job_id=JOB, owner_id=OWNER, key=key, clock=clock, background=False, **options)


def stored(redis_db: redis_lib.Redis, key: str = "text") -> bytes:
    return redis_db.get(data_key(JOB, key)) or b""


def joined(frames: list[dict[str, Any]]) -> str:
    """The frames' text, checking that each starts where the one before ended."""
    offset = frames[0]["offset"] if frames else 0
    for frame in frames:
        assert frame["offset"] == offset, frames
        offset += len(frame["text"].encode())
    return "".join(frame["text"] for frame in frames)


def test_writes_are_batched_until_the_batch_size(redis_db, relay):
    clock = FakeClock()
    out = writer(clock)
    word = "mot "  # 4 bytes
    for _ in range(16 * 1024 // 4 - 1):
        out.write(word)
    assert stored(redis_db) == b"" and relay.frames() == []
    out.write(word)  # the 16 KiB-th byte: one batch
    assert stored(redis_db) == word.encode() * 4096
    [frame] = relay.frames()
    assert frame == {
        "type": "output", "job": JOB, "key": "text", "offset": 0, "text": word * 4096, "closed": False,
    }  # fmt: skip


def test_a_batch_is_sent_once_50_ms_old(redis_db, relay):
    clock = FakeClock()
    out = writer(clock)
    out.write("a")
    clock.advance(0.049)
    out.write("b")
    assert stored(redis_db) == b""
    clock.advance(0.001)
    out.write("c")
    assert stored(redis_db) == b"abc"
    assert [(f["offset"], f["text"]) for f in relay.frames()] == [(0, "abc")]


def test_a_quiet_writer_is_flushed_by_the_background_thread(redis_db, relay):
    out = OutputWriter(job_id=JOB, owner_id=OWNER, key="text")
    out.write("seul")
    deadline = time.monotonic() + 2
    while stored(redis_db) != b"seul":
        assert time.monotonic() < deadline, "the batch was never sent"
        time.sleep(0.01)
    assert [f["text"] for f in relay.frames()] == ["seul"]
    out.close()


def test_close_sends_the_rest_and_marks_the_stream_closed(redis_db, relay):
    clock = FakeClock()
    with writer(clock) as out:
        out.write("début ")
        out.write("fin")
    assert stored(redis_db) == "début fin".encode()
    frames = relay.frames()
    assert [(f["offset"], f["text"], f["closed"]) for f in frames] == [(0, "début fin", True)]
    page = read_output(job_id=JOB, key="text")
    assert (page.text, page.closed, page.size, page.next_offset) == ("début fin", True, 10, 10)
    with pytest.raises(ValueError, match="closed"):
        out.write("encore")
    out.close()  # again: nothing more
    assert relay.frames() == []


def test_close_with_nothing_left_still_says_closed(redis_db, relay):
    clock = FakeClock()
    out = writer(clock)
    out.write("x" * 16 * 1024)
    out.close()
    frames = relay.frames()
    assert [(f["offset"], len(f["text"]), f["closed"]) for f in frames] == [
        (0, 16384, False),
        (16384, 0, True),
    ]


def test_many_writes_arrive_whole_and_in_order(redis_db, relay):
    clock = FakeClock()
    out = writer(clock)
    written = []
    for i in range(20_000):
        chunk = f"{i}:{'é' * (i % 7)} "
        written.append(chunk)
        out.write(chunk)
        if i % 1000 == 0:
            clock.advance(0.05)  # some batches by time, the others by size
    out.close()
    text = "".join(written)
    assert stored(redis_db) == text.encode()
    frames = relay.frames()
    assert len(frames) > 10
    assert joined(frames) == text
    assert all(len(f["text"].encode()) <= FRAME_BYTES for f in frames)


def test_a_batch_bigger_than_a_frame_is_relayed_in_frames_cut_between_characters(redis_db, relay, settings):
    settings.JOBS_OUTPUT_BATCH_BYTES = 1024 * 1024
    clock = FakeClock()
    out = writer(clock)
    text = "€" * 50_000  # 3 bytes each: FRAME_BYTES is not a multiple of 3
    out.write(text)
    out.close()
    frames = relay.frames()
    assert len(frames) == 3
    assert joined(frames) == text
    assert [f["closed"] for f in frames] == [False, False, True]


def test_a_write_past_the_cap_is_refused_whole(redis_db, relay, settings):
    settings.JOBS_OUTPUT_MAX_BYTES = 100
    clock = FakeClock()
    out = writer(clock)
    out.write("a" * 60)
    with pytest.raises(OutputTooLarge, match="JOBS_OUTPUT_MAX_BYTES"):
        out.write("b" * 41)
    out.write("c" * 40)  # exactly at the cap
    with pytest.raises(OutputTooLarge):
        out.write("d")
    out.close()
    assert stored(redis_db) == b"a" * 60 + b"c" * 40


def test_the_cap_counts_what_an_earlier_attempt_wrote(redis_db, relay, settings):
    settings.JOBS_OUTPUT_MAX_BYTES = 10
    with writer(FakeClock()) as first:
        first.write("12345678")
    again = writer(FakeClock())  # a retry: carries on after the first attempt's text
    assert again.size == 8
    again.write("9")
    with pytest.raises(OutputTooLarge):
        again.write("ab")
    again.close()
    assert stored(redis_db) == b"123456789"
    assert [f["offset"] for f in relay.frames() if f["text"]] == [0, 8]


@pytest.mark.parametrize("key", ["", "Text", "a" * 65, "-x", ".x", "a/b", "a b", "é", "x\n", None, 3])
def test_a_bad_key_raises_value_error_in_the_body(redis_db, key):
    ctx = RecordingContext(owner_id=OWNER)
    with pytest.raises(ValueError, match="output key"):
        ctx.stream(key)  # type: ignore[arg-type]
    ctx.close()
    assert redis_db.keys("coucou:output:*") == []


@pytest.mark.parametrize("key", ["a", "text", "log.1", "x-y_z", "0", "a" * 64])
def test_good_keys(redis_db, key):
    ctx = RecordingContext(owner_id=OWNER, job_id=JOB)
    ctx.stream(key).write("ok")
    ctx.close()
    assert stored(redis_db, key) == b"ok"


def test_the_same_open_key_is_the_same_writer(redis_db):
    ctx = RecordingContext(owner_id=OWNER, job_id=JOB)
    assert ctx.stream("text") is ctx.stream("text")
    ctx.close()


def test_the_end_of_the_attempt_sends_and_closes_every_open_writer(redis_db, relay):
    ctx = RecordingContext(owner_id=OWNER, job_id=JOB)
    ctx.stream("text").write("un")
    ctx.stream("log").write("deux")
    assert stored(redis_db, "text") == b""
    ctx.close()  # what jobs/runtime.py calls at the end of each attempt, before the end event
    assert (stored(redis_db, "text"), stored(redis_db, "log")) == (b"un", b"deux")
    assert sorted((f["key"], f["text"], f["closed"]) for f in relay.frames()) == [
        ("log", "deux", True),
        ("text", "un", True),
    ]


def test_a_cancel_mid_stream_stops_the_writes_and_keeps_what_came_before(redis_db, relay):
    cancelled = False
    ctx = RecordingContext(owner_id=OWNER, job_id=JOB, is_cancelled=lambda: cancelled)
    out = ctx.stream("text")
    out.write("avant ")
    out.write("le cancel")
    cancelled = True
    with pytest.raises(JobCancelled):
        out.write(" après")
    ctx.close()
    assert stored(redis_db) == b"avant le cancel"
    assert read_output(job_id=JOB, key="text").closed


def test_the_writer_takes_text_only(redis_db):
    out = writer(FakeClock())
    with pytest.raises(TypeError):
        out.write(b"bytes")  # type: ignore[arg-type]
    out.close()


def test_demo_stream_writes_each_word_of_the_fable_with_progress(redis_db, relay):
    from jobs.builtins import fable_words

    ctx = RecordingContext(owner_id=OWNER, job_id=JOB, task="demo.stream")
    result = run("demo.stream", ctx, {"words": 300, "interval_ms": 0, "key": "fable"})
    text = "".join(fable_words(300))
    assert text.startswith("Maître Corbeau, sur un arbre perché,\nTenait")
    assert len(text.split()) == 300
    assert result == {"words": 300, "bytes": len(text.encode())}
    assert stored(redis_db, "fable") == text.encode()
    assert joined(relay.frames()) == text
    assert ctx.pushed("job.progress")[-1]["current"] == 300


def test_demo_stream_stops_when_cancelled(redis_db):
    ctx = RecordingContext(owner_id=OWNER, job_id=JOB, task="demo.stream", is_cancelled=lambda: True)
    with pytest.raises(JobCancelled):
        run("demo.stream", ctx, {"words": 100_000, "interval_ms": 0})
    assert stored(redis_db) == b""
