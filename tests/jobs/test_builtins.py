"""The built-in job bodies, called as the runtime calls them, against a recording context."""

from __future__ import annotations

import time
from typing import Any

import pytest

from jobs.exceptions import JobCancelled, JobFailed
from jobs.registry import get_spec
from tests.jobs.fakes import RecordingContext


def run(name: str, ctx: RecordingContext, params: dict[str, Any] | None = None) -> Any:
    spec = get_spec(name)
    parsed = spec.parse(spec.validate(params or {}))
    try:
        return spec.fn(ctx) if parsed is None else spec.fn(ctx, parsed)
    finally:
        ctx.close()


def test_coucou_greets_its_caller_by_name(alice):
    ctx = RecordingContext(owner_id=alice.pk, task="coucou")
    result = run("coucou", ctx)
    assert result == {"message": "coucou alice"}
    assert ctx.events == [("coucou", {"message": "coucou alice"})]


def test_count_reports_progress_and_returns_what_it_counted():
    ctx = RecordingContext(task="demo.count")
    result = run("demo.count", ctx, {"n": 1000})
    assert result == {"counted": 1000}
    progress = ctx.pushed("job.progress")
    assert 2 <= len(progress) < 20  # coalesced, not one push per step
    assert progress[0]["current"] == 1
    assert progress[-1] == {"current": 1000, "total": 1000, "percent": 100.0, "message": "", "attempt": 1}
    assert ctx.saves[-1] == (1000, 1000, "")


def test_count_sleeps_interval_ms_between_steps():
    ctx = RecordingContext(task="demo.count")
    started = time.monotonic()
    assert run("demo.count", ctx, {"n": 5, "interval_ms": 20}) == {"counted": 5}
    assert time.monotonic() - started >= 0.1


def test_count_stops_when_cancelled():
    ctx = RecordingContext(task="demo.count", is_cancelled=lambda: True)
    with pytest.raises(JobCancelled):
        run("demo.count", ctx, {"n": 1_000_000})
    assert ctx.pushed("job.progress")[-1]["current"] == 1


def test_fail_raises_with_its_message():
    ctx = RecordingContext(task="demo.fail")
    with pytest.raises(JobFailed, match=r"^disk on fire$"):
        run("demo.fail", ctx, {"message": "disk on fire"})
    assert ctx.events == []


def test_fail_has_a_default_message():
    with pytest.raises(JobFailed, match=r"^demo failure$"):
        run("demo.fail", RecordingContext(task="demo.fail"))


def test_sleep_sleeps_reporting_progress_then_wakes():
    ctx = RecordingContext(task="demo.sleep")
    started = time.monotonic()
    result = run("demo.sleep", ctx, {"seconds": 0.2})
    elapsed = time.monotonic() - started
    assert result == {"slept": 0.2}
    assert 0.2 <= elapsed < 1.5
    progress = ctx.pushed("job.progress")
    assert {p["message"] for p in progress[:-1]} == {"sleeping"}
    assert progress[-1] == {"current": 0.2, "total": 0.2, "percent": 100.0, "message": "awake", "attempt": 1}
    currents = [p["current"] for p in progress]
    assert currents == sorted(currents)


def test_sleep_stops_early_when_cancelled():
    cancel_at = time.monotonic() + 0.15
    ctx = RecordingContext(task="demo.sleep", is_cancelled=lambda: time.monotonic() >= cancel_at)
    started = time.monotonic()
    with pytest.raises(JobCancelled):
        run("demo.sleep", ctx, {"seconds": 30})
    assert time.monotonic() - started < 1.5
    assert ctx.pushed("job.progress")[-1]["message"] == "sleeping"


def test_sleep_with_ignore_cancel_sleeps_through_a_cancel_without_a_word():
    ctx = RecordingContext(task="demo.sleep", is_cancelled=lambda: True)
    started = time.monotonic()
    with pytest.raises(JobCancelled):  # at its one check, on waking
        run("demo.sleep", ctx, {"seconds": 0.2, "ignore_cancel": True})
    assert time.monotonic() - started >= 0.2
    assert [p["message"] for p in ctx.pushed("job.progress")] == ["awake"]


def test_flaky_fails_its_first_attempts_with_a_retryable_error():
    for attempt in (1, 2):
        with pytest.raises(ConnectionError, match=f"attempt {attempt} of a flaky job"):
            run("demo.flaky", RecordingContext(task="demo.flaky", attempt=attempt), {"failures": 2})
    assert run("demo.flaky", RecordingContext(task="demo.flaky", attempt=3), {"failures": 2}) == {
        "succeeded_on_attempt": 3
    }
    assert issubclass(ConnectionError, get_spec("demo.flaky").retry.on)
