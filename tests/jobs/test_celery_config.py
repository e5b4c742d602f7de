"""How the Celery app treats the database and its result backend around tasks."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.db import connections
from kombu.asynchronous import Hub

from config import worker
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


class _Consumer:
    """The part of a worker's consumer that config/worker.py changes, on a real kombu hub."""

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self._flush_scheduled = False
        self.flushed = 0

    def _flush_events(self) -> None:
        self.flushed += 1

    def buffered(self) -> None:
        worker.Consumer.on_send_event_buffered(self)  # type: ignore[arg-type]

    def _flush_scheduled_events(self) -> None:
        worker.Consumer._flush_scheduled_events(self)  # type: ignore[arg-type]

    def _flush_on_close(self, hub: Any) -> None:
        worker.Consumer._flush_on_close(self, hub)  # type: ignore[arg-type]


def test_a_worker_flushes_task_events_after_its_next_poll(monkeypatch) -> None:
    """Not from the ready queue, which runs before the poll that hands a task to its process."""
    assert app.conf.worker_consumer == "config.worker:Consumer"
    monkeypatch.setattr(worker, "EVENT_FLUSH_DELAY_S", 60)
    consumer = _Consumer(Hub())
    for _ in range(3):  # task-received, task-started, task-succeeded: one flush for the three
        consumer.buffered()
    assert not consumer.hub._ready and len(consumer.hub.timer.queue) == 1
    consumer.hub.fire_timers()
    assert consumer.flushed == 0  # not due yet: the loop polls first
    consumer.hub.timer.queue[0].entry()  # what fire_timers does once it is due
    assert consumer.flushed == 1
    consumer.buffered()
    assert len(consumer.hub.timer.queue) == 2  # the next event schedules the next flush
    consumer.hub.close()


def test_task_events_pending_when_the_loop_closes_or_resets_go_out_then(monkeypatch) -> None:
    monkeypatch.setattr(worker, "EVENT_FLUSH_DELAY_S", 60)
    consumer = _Consumer(Hub())
    consumer.buffered()
    consumer.hub.reset()  # what the loop does after a broker error, and then:
    consumer.hub.timer.clear()
    assert consumer.flushed == 1
    consumer.buffered()  # flushes are scheduled again after the reconnect
    assert len(consumer.hub.timer.queue) == 1
    consumer.hub.close()  # a warm shutdown never fires the timer
    assert consumer.flushed == 2
    consumer.hub.close()
    assert consumer.flushed == 2
