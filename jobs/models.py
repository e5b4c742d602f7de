from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connections, models, router
from django.utils import timezone


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class JobQuerySet(models.QuerySet["Job"]):
    def owned_by(self, user: Any) -> JobQuerySet:
        return self.filter(owner=user)

    def active(self) -> JobQuerySet:
        return self.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING])

    def running_since(self, moment: Any) -> JobQuerySet:
        """Running jobs a worker holds (a parent awaiting its children is held by none)."""
        return self.filter(status=JobStatus.RUNNING, started_at__lt=moment, awaiting_children=False)

    def on_channel(self, channel: str) -> JobQuerySet:
        return self.filter(channel=channel)

    def claim(self, job_id: Any, *, task: str) -> Job | None:
        """Start an attempt of the queued job ``job_id`` of ``task``: the Job, now running,
        or None when it was not queued (absent, another task's, finished, or taken by
        another delivery of it). Of two deliveries racing, exactly one claims the job.

        One statement where the database returns the rows it updates (PostgreSQL, SQLite),
        instead of a read and a conditional UPDATE: the first thing every job does, on the
        path of every ``POST /api/coucou`` → frame (bench/RESULTS.md). The owner is not
        loaded with it.
        """
        pk = Job._meta.pk.to_python(job_id)  # a malformed id raises, as get() does
        now = timezone.now()
        db = self._db or router.db_for_write(Job)  # type: ignore[attr-defined]  # not in django-stubs
        connection = connections[db]
        # SQLite has RETURNING since 3.35, the version Django's insert feature flag checks.
        returning = connection.features.can_return_columns_from_insert
        if connection.vendor not in ("postgresql", "sqlite") or not returning:
            jobs = Job.objects.using(db)
            updated = jobs.filter(pk=pk, task=task, status=JobStatus.QUEUED).update(
                status=JobStatus.RUNNING, attempts=models.F("attempts") + 1, started_at=now
            )
            return jobs.filter(pk=pk).first() if updated else None
        params = [
            JobStatus.RUNNING,
            Job._meta.get_field("started_at").get_db_prep_value(now, connection),
            Job._meta.pk.get_db_prep_value(pk, connection),
            task,
            JobStatus.QUEUED,
        ]
        # Fetched to the end: SQLite finishes the statement, and its write, only then.
        rows = list(Job.objects.raw(_claim_sql(db), params, using=db))
        return rows[0] if rows else None


@cache
def _claim_sql(alias: str) -> str:
    quote = connections[alias].ops.quote_name

    def column(name: str) -> str:
        return quote(Job._meta.get_field(name).column)  # type: ignore[union-attr, arg-type]

    status, attempts, started_at = column("status"), column("attempts"), column("started_at")
    returned = ", ".join(quote(field.column) for field in Job._meta.concrete_fields)  # type: ignore[arg-type]
    # Only the model's own quoted names are formatted in; every value is a parameter.
    return (
        f"UPDATE {quote(Job._meta.db_table)}"  # noqa: S608
        f" SET {status} = %s, {attempts} = {attempts} + 1, {started_at} = %s"
        f" WHERE {column('id')} = %s AND {column('task')} = %s AND {status} = %s"
        f" RETURNING {returned}"
    )


class Job(models.Model):
    """One run of a registered job: the truth for its status, progress and result."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    task = models.CharField(max_length=200)
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress_current = models.FloatField(null=True, blank=True)
    progress_total = models.FloatField(null=True, blank=True)
    progress_message = models.CharField(max_length=500, blank=True, default="")
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    # A named channel ("team:42") that gets the job's job.* events too; the longest valid name
    # is a 32-character namespace, ":" and a 100-character name (realtime/groups.py).
    channel = models.CharField(max_length=133, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    # The job this one re-runs (the admin's "re-run" action): same task, params and owner.
    rerun_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )

    # Child jobs (jobs/children.py): the job whose body spawned this one, and the top of its tree.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    root = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="descendants"
    )
    # A parent whose body has returned while children still run: no worker holds it (no
    # heartbeat), its last child's end finishes it. ``result`` holds the body's return value.
    awaiting_children = models.BooleanField(default=False)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            # The per-owner cap counts active jobs on every submit: without this, the count
            # reads every job the owner ever ran.
            # Not partial: with the statuses bound as parameters SQLite would not use it.
            models.Index(fields=["owner", "status"], name="jobs_owner_status"),
            # A channel's board (teams/views.py) lists its newest jobs.
            models.Index(fields=["channel", "-created_at"], name="jobs_channel_created"),
            # Retention purges finished jobs by age (jobs/retention.py), in batches.
            models.Index(fields=["finished_at"], name="jobs_finished_at"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="unique_idempotency_key_per_owner",
            )
        ]

    def __str__(self) -> str:
        return f"{self.task} {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL

    @property
    def percent(self) -> float | None:
        if not self.progress_total or self.progress_current is None:
            return None
        return round(min(100.0, 100.0 * self.progress_current / self.progress_total), 2)

    def set_progress(self, current: float, total: float | None, message: str) -> None:
        self.progress_current, self.progress_total, self.progress_message = current, total, message[:500]
        self.save(update_fields=["progress_current", "progress_total", "progress_message"])
