"""The jobs console in the Django admin, driven with Django's test client against real Redis."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs.console import CHANNEL
from jobs.models import Job, JobStatus
from jobs.runtime import execute
from jobs.services import job_submit
from realtime.namespaces import may_read, parse
from realtime.stream import read_stream
from tests.conftest import events_of, make_job, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_db")]
CHANGELIST = reverse("admin:jobs_job_changelist")


def staff(username: str, *perms: str) -> User:
    user = make_user(username=username)
    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(codename__in=perms, content_type__app_label="jobs"))
    return User.objects.get(pk=user.pk)  # a fresh instance: no cached permissions


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer() -> User:
    return staff("viewer", "view_job")


@pytest.fixture
def operator() -> User:
    return staff("operator", "view_job", "change_job")


def console_events() -> list[dict[str, Any]]:
    return [orjson.loads(frame) for _, frame in read_stream(parse(CHANNEL)[1], 0, 1000).frames]


def submit(owner: User, **kwargs: Any) -> Job:
    return job_submit(
        owner=owner, task=kwargs.pop("task", "demo.count"), params=kwargs.pop("params", {"n": 3})
    )


def listed(response: Any) -> list[str]:
    return [str(job.pk) for job in response.context["cl"].result_list]


# --- the list --------------------------------------------------------------------------------
def test_the_list_shows_every_owners_jobs_with_progress_attempts_and_timing(
    viewer: User, alice: Any, bob: Any
) -> None:
    now = timezone.now()
    done = make_job(
        owner=alice,
        status=JobStatus.SUCCEEDED,
        attempts=2,
        created_at=now - timedelta(seconds=10),
        started_at=now - timedelta(seconds=7),
        finished_at=now - timedelta(seconds=2),
    )
    running = make_job(
        owner=bob, task="demo.sleep", status=JobStatus.RUNNING, progress_current=3, progress_total=10
    )
    response = client_for(viewer).get(CHANGELIST)
    assert response.status_code == 200
    assert set(listed(response)) == {str(done.pk), str(running.pk)}
    html = response.content.decode()
    assert str(done.pk)[:8] in html and "3.0 s" in html and "5.0 s" in html  # queue wait, run time
    assert 'data-status="running"' in html and "30 %" in html and "100 %" in html
    assert 'data-channel="console:jobs"' in html  # the page follows the console's feed


def test_filters_by_status_task_owner_and_date(viewer: User, alice: Any, bob: Any) -> None:
    old = make_job(owner=alice, status=JobStatus.FAILED, created_at=timezone.now() - timedelta(days=40))
    count = make_job(owner=alice, task="demo.count")
    sleep = make_job(owner=bob, task="demo.sleep", status=JobStatus.RUNNING)
    client = client_for(viewer)
    assert listed(client.get(CHANGELIST, {"status__exact": "running"})) == [str(sleep.pk)]
    assert listed(client.get(CHANGELIST, {"task": "demo.sleep"})) == [str(sleep.pk)]
    assert set(listed(client.get(CHANGELIST, {"owner__id__exact": alice.pk}))) == {str(old.pk), str(count.pk)}
    since = str(timezone.now() - timedelta(days=7))  # as the admin's "Past 7 days" link puts it
    recent = client.get(CHANGELIST, {"created_at__gte": since})
    assert set(listed(recent)) == {str(count.pk), str(sleep.pk)}
    assert "demo.coucou" not in recent.content.decode()  # the task filter lists registered names
    assert ">coucou<" in recent.content.decode()


def test_search_by_id_prefix_owner_and_task(viewer: User, alice: Any, bob: Any) -> None:
    first = make_job(owner=alice, task="demo.count")
    second = make_job(owner=bob, task="demo.sleep")
    client = client_for(viewer)
    assert listed(client.get(CHANGELIST, {"q": str(first.pk)})) == [str(first.pk)]
    assert listed(client.get(CHANGELIST, {"q": str(second.pk)[:8]})) == [str(second.pk)]
    assert listed(client.get(CHANGELIST, {"q": str(second.pk).upper()[:13]})) == [str(second.pk)]
    assert listed(client.get(CHANGELIST, {"q": "bob"})) == [str(second.pk)]
    assert listed(client.get(CHANGELIST, {"q": "demo.count"})) == [str(first.pk)]
    assert client.get(CHANGELIST, {"q": "'; drop table --"}).status_code == 200


# --- one job's page ---------------------------------------------------------------------------
def test_a_jobs_page_shows_params_result_error_and_its_event_timeline(
    viewer: User, alice: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        job = submit(alice, params={"n": 7, "interval_ms": 5})
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED, error={"type": "ValueError", "message": "tile 3 is broken"}
    )
    response = client_for(viewer).get(reverse("admin:jobs_job_change", args=[job.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "&quot;interval_ms&quot;: 5" in html and "tile 3 is broken" in html
    assert "<code>job.queued</code>" in html and "1 event(s), as the owner&#x27;s sockets got them." in html


def test_the_timeline_says_so_when_the_jobs_events_are_no_longer_retained(viewer: User, alice: Any) -> None:
    job = make_job(owner=alice)  # never published
    html = client_for(viewer).get(reverse("admin:jobs_job_change", args=[job.pk])).content.decode()
    assert "None of this job&#x27;s events is retained" in html


# --- permissions ------------------------------------------------------------------------------
def test_a_viewer_sees_everything_and_can_change_nothing(viewer: User, alice: Any) -> None:
    job = make_job(owner=alice)
    client = client_for(viewer)
    page = client.get(reverse("admin:jobs_job_change", args=[job.pk])).content.decode()
    assert 'id="console-cancel"' not in page and 'id="console-rerun"' not in page
    assert 'name="_save"' not in page
    listing = client.get(CHANGELIST).content.decode()
    assert "cancel_jobs" not in listing and "rerun_jobs" not in listing and "delete_selected" not in listing
    assert client.post(reverse("admin:jobs_job_cancel", args=[job.pk])).status_code == 403
    assert client.post(reverse("admin:jobs_job_rerun", args=[job.pk])).status_code == 403
    client.post(CHANGELIST, {"action": "cancel_jobs", "_selected_action": [job.pk]})
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED
    assert Job.objects.count() == 1
    assert not LogEntry.objects.exists()


def test_only_staff_get_in(alice: Any) -> None:
    make_job(owner=alice)
    assert client_for(alice).get(CHANGELIST).status_code == 302  # to the admin's login
    assert Client().get(CHANGELIST).status_code == 302
    no_perm = staff("intern")
    assert client_for(no_perm).get(CHANGELIST).status_code == 403


def test_nobody_adds_or_edits_a_job_by_hand_and_only_finished_ones_are_deleted(alice: Any) -> None:
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    running = make_job(owner=alice, status=JobStatus.RUNNING)
    done = make_job(owner=alice, status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    client = client_for(admin)
    assert client.get(reverse("admin:jobs_job_add")).status_code == 403
    page = client.get(reverse("admin:jobs_job_change", args=[running.pk])).content.decode()
    assert 'name="task"' not in page and 'name="status"' not in page  # read-only, even for a superuser
    assert client.get(reverse("admin:jobs_job_delete", args=[running.pk])).status_code == 403
    assert client.post(reverse("admin:jobs_job_delete", args=[done.pk]), {"post": "yes"}).status_code == 302
    assert list(Job.objects.all()) == [running]


# --- actions ----------------------------------------------------------------------------------
def test_cancel_from_a_jobs_page_goes_through_job_cancel_and_tells_the_owner(
    operator: User, alice: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        job = submit(alice)
    response = client_for(operator).post(reverse("admin:jobs_job_cancel", args=[job.pk]), follow=True)
    assert response.status_code == 200
    assert "Asked 1 job(s) to stop" in response.content.decode()
    assert Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED
    assert [event["type"] for event in events_of(alice)] == ["job.queued", "job.cancelled"]
    assert [(e["type"], e["job"]) for e in console_events()] == [
        ("job.queued", str(job.pk)),
        ("job.cancelled", str(job.pk)),
    ]
    entry = LogEntry.objects.get()
    assert (entry.user, entry.object_id, entry.action_flag) == (operator, str(job.pk), CHANGE)
    assert "Cancelled from the jobs console." in entry.get_change_message()


def test_a_running_job_is_asked_to_stop(operator: User, alice: Any, redis_db: Any) -> None:
    job = make_job(owner=alice, status=JobStatus.RUNNING, started_at=timezone.now())
    client_for(operator).post(reverse("admin:jobs_job_cancel", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.cancel_requested_at is not None
    assert redis_db.exists(f"coucou:job:{job.pk}:cancel")  # the flag its worker reads


def test_bulk_cancel_of_a_filtered_set_leaves_the_rest_and_finished_jobs_alone(
    operator: User, alice: Any, bob: Any
) -> None:
    queued = [make_job(owner=alice, task="demo.sleep") for _ in range(3)]
    other = make_job(owner=bob, task="demo.count")
    done = make_job(owner=bob, task="demo.sleep", status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    response = client_for(operator).post(
        f"{CHANGELIST}?task=demo.sleep",
        {"action": "cancel_jobs", "select_across": "1", "index": "0", "_selected_action": [queued[0].pk]},
        follow=True,
    )
    html = response.content.decode()
    assert "Asked 3 job(s) to stop" in html and "1 job(s) had already finished: left alone." in html
    assert {job.status for job in Job.objects.filter(pk__in=[j.pk for j in queued])} == {JobStatus.CANCELLED}
    assert Job.objects.get(pk=other.pk).status == JobStatus.QUEUED
    assert Job.objects.get(pk=done.pk).status == JobStatus.SUCCEEDED
    assert LogEntry.objects.count() == 3


def test_rerun_starts_a_new_job_with_the_same_params_for_the_same_owner_linked_to_the_first(
    operator: User, alice: Any, django_capture_on_commit_callbacks: Any
) -> None:
    first = make_job(
        owner=alice, params={"n": 9, "interval_ms": 1}, status=JobStatus.FAILED, finished_at=timezone.now()
    )
    client = client_for(operator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:jobs_job_rerun", args=[first.pk]))
    rerun = Job.objects.exclude(pk=first.pk).get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "admin:jobs_job_change", args=[rerun.pk]
    )
    assert (rerun.owner, rerun.task, rerun.params, rerun.status) == (
        alice,
        first.task,
        first.params,
        "queued",
    )
    assert rerun.rerun_of == first
    assert [event["type"] for event in events_of(alice)] == ["job.queued"]  # the owner sees it start
    assert (
        client.get(reverse("admin:jobs_job_change", args=[rerun.pk])).content.decode().count(str(first.pk))
        >= 1
    )
    original_page = client.get(reverse("admin:jobs_job_change", args=[first.pk])).content.decode()
    assert reverse("admin:jobs_job_change", args=[rerun.pk]) in original_page
    messages = sorted(entry.get_change_message() for entry in LogEntry.objects.all())
    assert messages == [f"Re-run as job {rerun.pk}.", f"Re-run of job {first.pk}."]


def test_rerun_refused_by_the_owners_cap_says_why_and_starts_nothing(
    operator: User, alice: Any, settings: Any
) -> None:
    settings.JOBS_MAX_ACTIVE_PER_USER = 1
    make_job(owner=alice, status=JobStatus.RUNNING)
    first = make_job(owner=alice, status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    response = client_for(operator).post(
        CHANGELIST, {"action": "rerun_jobs", "_selected_action": [first.pk]}, follow=True
    )
    assert (
        "Could not re-run" in response.content.decode()
        and "at most 1 queued or running" in response.content.decode()
    )
    assert Job.objects.count() == 2 and not LogEntry.objects.exists()


# --- the live feed ----------------------------------------------------------------------------
def test_only_staff_who_may_view_jobs_read_the_console_feed(viewer: User, alice: Any) -> None:
    assert may_read(viewer, "console:jobs")
    assert not may_read(viewer, "console:other")
    assert not may_read(alice, "console:jobs")
    assert not may_read(staff("intern"), "console:jobs")


def test_the_feed_is_off_with_jobs_console_live_false(viewer: User, alice: Any, settings: Any) -> None:
    settings.JOBS_CONSOLE_LIVE = False
    job = make_job(owner=alice)
    client_for(viewer).post(reverse("admin:jobs_job_cancel", args=[job.pk]))
    assert 'data-channel="console:jobs"' not in client_for(viewer).get(CHANGELIST).content.decode()
    assert console_events() == []


def test_a_worker_tells_the_feed_each_lifecycle_step_and_progress_at_the_rows_rate(
    alice: Any, settings: Any
) -> None:
    settings.JOBS_PROGRESS_DB_INTERVAL_S = 3600  # the row gets progress once: at the end
    job = submit(alice, task="demo.count", params={"n": 50})
    execute(str(job.pk), task_name="demo.count")
    steps = [(e["type"], e["job"]) for e in console_events()]
    lifecycle = ("job.queued", "job.started", "job.progress", "job.succeeded")
    assert steps == [(t, str(job.pk)) for t in lifecycle]
    [progress] = (e["data"] for e in console_events() if e["type"] == "job.progress")
    assert (progress["current"], progress["total"], progress["percent"]) == (50, 50, 100.0)
    assert len([e for e in events_of(alice) if e["type"] == "job.progress"]) >= 1  # the owner's own
