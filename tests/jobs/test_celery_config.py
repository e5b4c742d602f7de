"""How the Celery app treats the database and its result backend around tasks."""

from __future__ import annotations

import threading

import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.db import connections

from config.celery_app import app
from jobs.registry import get_spec


def test_every_thread_shares_one_result_backend() -> None:
    # Built per thread, it scanned every package's entry points on each new request thread.
    seen = [app.backend]
    thread = threading.Thread(target=lambda: seen.append(app.backend))
    thread.start()
    thread.join()
    assert seen[0] is seen[1]


@pytest.mark.django_db(transaction=True)
def test_tasks_keep_a_healthy_database_connection(monkeypatch) -> None:
    # Celery's Django fixup would close it around every task (CELERY_DB_REUSE_MAX stops it).
    wrapper = connections["default"]
    wrapper.ensure_connection()
    closed: list[bool] = []
    monkeypatch.setattr(wrapper, "close", lambda: closed.append(True))
    task = get_spec("coucou").celery_task
    fixup = DjangoWorkerFixup(app)  # what a worker installs around tasks
    for _ in range(3):
        fixup.on_task_prerun(sender=task)
        task_prerun.send(sender=task, task=task, task_id="t")
        fixup.on_task_postrun(sender=task)
        task_postrun.send(sender=task, task=task, task_id="t")
    assert closed == []


@pytest.mark.django_db(transaction=True)
def test_a_broken_connection_is_closed_before_the_next_task(monkeypatch) -> None:
    wrapper = connections["default"]
    wrapper.ensure_connection()
    closed: list[bool] = []
    monkeypatch.setattr(wrapper, "errors_occurred", True)
    monkeypatch.setattr(wrapper, "is_usable", lambda: False)  # a restarted database server
    monkeypatch.setattr(wrapper, "close", lambda: closed.append(True))
    task = get_spec("coucou").celery_task
    task_prerun.send(sender=task, task=task, task_id="t")
    assert closed == [True]


def test_a_worker_flushes_task_events_after_its_next_poll() -> None:
    """Not from the ready queue, which runs before the poll that hands a task to its process."""
    import time
    from types import SimpleNamespace

    from kombu.asynchronous import Hub

    from config import worker

    assert app.conf.worker_consumer == "config.worker:Consumer"
    flushed: list[float] = []
    hub = Hub()
    consumer = SimpleNamespace(hub=hub, _flush_scheduled=False, _flush_events=lambda: flushed.append(1))
    consumer._flush_scheduled_events = lambda: worker.Consumer._flush_scheduled_events(consumer)  # type: ignore[arg-type]
    for _ in range(3):  # task-received, task-started, task-succeeded: one flush for the three
        worker.Consumer.on_send_event_buffered(consumer)  # type: ignore[arg-type]
    assert not hub._ready and len(hub.timer.queue) == 1
    hub.fire_timers()
    assert flushed == []  # not due before the loop has polled
    time.sleep(worker.EVENT_FLUSH_DELAY_S * 2)
    hub.fire_timers()
    assert flushed == [1]
    worker.Consumer.on_send_event_buffered(consumer)  # type: ignore[arg-type]
    assert len(hub.timer.queue) == 1  # the next event schedules the next flush
    hub.close()
