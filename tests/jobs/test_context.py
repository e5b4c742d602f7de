from __future__ import annotations

import time

import pytest

from jobs.exceptions import JobCancelled
from tests.jobs.fakes import FakeClock, RecordingContext


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# Times are multiples of 1/8 s so that the fake clock's float arithmetic is exact.
HZ = 8
TICK = 1 / HZ


def test_many_progress_calls_within_one_interval_give_one_push(clock):
    ctx = RecordingContext(clock=clock, max_hz=HZ)
    for i in range(1, 1001):
        ctx.progress(i, 1000)
    assert ctx.pushed("job.progress") == [
        {"current": 1, "total": 1000, "percent": 0.1, "message": "", "attempt": 1}
    ]


def test_the_next_interval_pushes_the_latest_value(clock):
    ctx = RecordingContext(clock=clock, max_hz=HZ)
    ctx.progress(1, 10)
    ctx.progress(2, 10)
    clock.advance(TICK - 1 / 1024)
    ctx.progress(3, 10)
    assert [p["current"] for p in ctx.pushed("job.progress")] == [1]
    clock.advance(1 / 1024)
    ctx.progress(4, 10, message="halfway")
    assert ctx.pushed("job.progress")[-1] == {
        "current": 4,
        "total": 10,
        "percent": 40.0,
        "message": "halfway",
        "attempt": 1,
    }
    assert len(ctx.pushed("job.progress")) == 2


def test_close_always_delivers_the_last_value(clock):
    ctx = RecordingContext(clock=clock)
    for i in range(1, 8):
        ctx.progress(i, 7)
    ctx.close()
    progress = ctx.pushed("job.progress")
    assert [p["current"] for p in progress] == [1, 7]
    assert progress[-1]["percent"] == 100.0


def test_close_does_not_repeat_a_value_already_pushed(clock):
    ctx = RecordingContext(clock=clock)
    ctx.progress(5, 5)
    ctx.close()
    assert len(ctx.pushed("job.progress")) == 1


def test_nothing_is_pushed_after_close(clock):
    ctx = RecordingContext(clock=clock)
    ctx.close()
    clock.advance(10)
    ctx.progress(1, 2)
    ctx.close()
    assert ctx.events == []


def test_percent_is_none_without_a_total_and_capped_at_100(clock):
    ctx = RecordingContext(clock=clock)
    ctx.progress(3)
    clock.advance(1)
    ctx.progress(12, 10)
    assert [p["percent"] for p in ctx.pushed("job.progress")] == [None, 100.0]


def test_db_saves_are_bounded_by_db_interval(clock):
    ctx = RecordingContext(clock=clock, max_hz=HZ, db_interval=1.0)
    for i in range(1, 25):  # 3 s of progress, one call per push interval
        ctx.progress(i, 24)
        clock.advance(TICK)
    # Every call was pushed, but the row was written at 1 s and 2 s only.
    assert len(ctx.pushed("job.progress")) == 24
    assert [current for current, _, _ in ctx.saves] == [9, 17]
    ctx.close()
    assert ctx.saves[-1] == (24, 24, "")


def test_close_saves_the_last_value_even_within_db_interval(clock):
    ctx = RecordingContext(clock=clock, db_interval=60)
    ctx.progress(1, 3, message="one")
    ctx.progress(3, 3, message="three")
    assert ctx.saves == []
    ctx.close()
    assert ctx.saves == [(3, 3, "three")]


def test_check_cancelled_raises_once_the_job_is_cancelled(clock):
    cancelled = False
    ctx = RecordingContext(clock=clock, is_cancelled=lambda: cancelled)
    ctx.check_cancelled()
    cancelled = True
    with pytest.raises(JobCancelled):
        ctx.check_cancelled()
    cancelled = False  # once cancelled, always cancelled
    with pytest.raises(JobCancelled):
        ctx.check_cancelled()


def test_progress_raises_at_its_next_tick_once_cancelled(clock):
    cancelled = False
    ctx = RecordingContext(clock=clock, max_hz=HZ, is_cancelled=lambda: cancelled)
    ctx.progress(1, 10)
    cancelled = True
    ctx.progress(2, 10)  # within the interval: no tick, no check
    clock.advance(TICK)
    with pytest.raises(JobCancelled):
        ctx.progress(3, 10)
    # The value reached was still pushed before the body stopped.
    assert ctx.pushed("job.progress")[-1]["current"] == 3


def test_push_emits_the_bodys_own_events(clock):
    ctx = RecordingContext(clock=clock)
    data = {"message": "coucou carol"}
    ctx.push("coucou", data)
    ctx.push("images.thumbnail")
    assert ctx.events == [("coucou", {"message": "coucou carol"}), ("images.thumbnail", {})]
    assert ctx.events[0][1] is not data  # a copy: the body may reuse its dict


def test_a_quiet_body_s_last_value_is_pushed_without_waiting_for_close():
    # The process's ticker thread publishes a value the body set and then went quiet on.
    ctx = RecordingContext(background=True)
    ctx.progress(1, 3)
    ctx.progress(2, 3, message="stuck")
    deadline = time.monotonic() + 2
    while len(ctx.pushed("job.progress")) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [p["current"] for p in ctx.pushed("job.progress")] == [1, 2]
    assert ctx.saves == []  # the ticker pushes but leaves the row to the body's thread
    ctx.close()
    assert len(ctx.pushed("job.progress")) == 2


@pytest.mark.django_db
def test_owner_is_the_user_who_started_the_job_loaded_once(alice, django_assert_num_queries):
    from django.contrib.auth import get_user_model

    ctx = RecordingContext(owner_id=alice.pk)
    with django_assert_num_queries(1):
        assert (ctx.owner, ctx.owner.get_username()) == (alice, "alice")
        assert ctx.owner is ctx.owner
    gone = RecordingContext(owner_id=alice.pk + 1000)
    with pytest.raises(get_user_model().DoesNotExist):
        _ = gone.owner
