"""The jobs console: Coucou's Job rows in the Django admin, for the people who run it.

- Staff with ``jobs.view_job`` see every job, its params, result, error and event timeline,
  and change nothing: every field is read-only, for everyone (a status is changed by the job
  domain's verbs, never by hand).
- Staff with ``jobs.change_job`` also act: cancel (``job_cancel``: the owner is told, a running
  job stops), re-run (``job_rerun``: a new job for the same owner, linked to this one), each on
  one job's page or on a selection, which may be the whole filtered list ("select all").
  Every action is recorded in the admin log, on each job it touched.
- The change list and the job page follow ``console:jobs`` (jobs/console.py) over Coucou's
  own socket, and update without a reload (jobs/static/jobs/console.js).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import orjson
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST
from redis.exceptions import RedisError

from jobs import console
from jobs.exceptions import JobsError
from jobs.models import Job, JobStatus
from jobs.registry import all_specs
from jobs.services import job_cancel, job_rerun
from realtime.stream import read_after

TIMELINE_SCAN = 10_000  # the owner's retained events read to find one job's (REALTIME_STREAM_MAXLEN)


class TaskFilter(admin.SimpleListFilter):
    title = "task"
    parameter_name = "task"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        # The registered jobs, and any task still in the table that no longer is one.
        names = {spec.name for spec in all_specs()}
        names |= set(Job.objects.order_by().values_list("task", flat=True).distinct()[:200])
        return [(name, name) for name in sorted(names)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> QuerySet[Job]:
        return queryset.filter(task=self.value()) if self.value() else queryset


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # generic only in django-stubs
    list_display = (
        "short_id",
        "task",
        "owner",
        "status_badge",
        "progress_cell",
        "attempts",
        "queue_wait",
        "run_time",
        "created_at",
    )
    list_display_links = ("short_id",)
    list_filter = ("status", TaskFilter, ("owner", admin.RelatedOnlyFieldListFilter), "created_at")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    search_fields = ("task", "owner__username")
    search_help_text = "A job id (or its first 8+ characters), an owner's username or a task."
    list_per_page = 50
    show_full_result_count = False  # a count of every row on each page is slow on a big table
    actions = ("cancel_jobs", "rerun_jobs")
    change_list_template = "admin/jobs/job/change_list.html"
    change_form_template = "admin/jobs/job/change_form.html"
    fieldsets = (
        (None, {"fields": ("id", "task", "owner", "status_badge", "progress_cell", "channel")}),
        (
            "Timing",
            {"fields": ("created_at", "started_at", "finished_at", "queue_wait", "run_time", "attempts")},
        ),
        ("Input and outcome", {"fields": ("params_json", "result_json", "error_json")}),
        ("Links", {"fields": ("idempotency_key", "rerun_of", "reruns_list", "cancel_requested_at")}),
        ("Events", {"fields": ("timeline",)}),
    )

    # --- permissions: read-only for all; acting needs change ----------------------------
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs start from code or the API, through job_submit

    def has_delete_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        # Finished jobs only, one at a time (retention purges in bulk: jobs/retention.py).
        return obj is not None and obj.is_finished and super().has_delete_permission(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Job | None = None) -> list[str]:
        return [str(field) for fieldset in self.fieldsets for field in fieldset[1]["fields"]]

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        # Django 6.1 passes action_location (and warns about an override without it); 5.2 has
        # no such argument: forwarded only when given.
        if action_location is None:
            actions = super().get_actions(request)
        else:
            actions = super().get_actions(request, action_location=action_location)  # type: ignore[call-arg]
        actions.pop("delete_selected", None)  # would delete running jobs under their workers
        return actions

    # --- the change list ----------------------------------------------------------------
    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Job], search_term: str
    ) -> tuple[QuerySet[Job], bool]:
        term = search_term.strip()
        by_id = _id_lookup(term)
        if by_id is not None:
            return queryset.filter(**by_id), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="job", ordering="id")
    def short_id(self, job: Job) -> str:
        return str(job.id)[:8]

    @admin.display(description="status", ordering="status")
    def status_badge(self, job: Job) -> SafeString:
        return format_html(
            '<span class="job-status" data-job="{}" data-status="{}">{}</span>',
            job.id,
            job.status,
            job.status,
        )

    @admin.display(description="progress")
    def progress_cell(self, job: Job) -> SafeString:
        percent = 100.0 if job.status == JobStatus.SUCCEEDED else job.percent
        value = "" if percent is None else f"{percent:g}"
        text = "" if percent is None else f"{percent:g} %"
        return format_html(
            '<span class="job-progress" data-job="{}"><progress max="100" value="{}"></progress>'
            ' <span class="job-progress-text">{}</span> <span class="job-progress-message">{}</span></span>',
            job.id,
            value,
            text,
            job.progress_message,
        )

    @admin.display(description="queue wait")
    def queue_wait(self, job: Job) -> str:
        return _duration(job.started_at - job.created_at) if job.started_at else "—"

    @admin.display(description="run time")
    def run_time(self, job: Job) -> str:
        if job.started_at and job.finished_at:
            return _duration(job.finished_at - job.started_at)
        return "—"

    # --- one job's page -----------------------------------------------------------------
    @admin.display(description="params")
    def params_json(self, job: Job) -> SafeString:
        return _pretty(job.params)

    @admin.display(description="result")
    def result_json(self, job: Job) -> SafeString:
        return _pretty(job.result)

    @admin.display(description="error")
    def error_json(self, job: Job) -> SafeString:
        return _pretty(job.error)

    @admin.display(description="re-run as")
    def reruns_list(self, job: Job) -> SafeString:
        links = [
            format_html('<a href="{}">{}</a>', reverse("admin:jobs_job_change", args=[rerun.pk]), rerun)
            for rerun in job.reruns.order_by("created_at")[:20]
        ]
        return SafeString(", ".join(links)) if links else SafeString("—")  # each link built by format_html

    @admin.display(description="event timeline")
    def timeline(self, job: Job) -> SafeString:
        events, note = job_timeline(job)
        rows = [
            format_html(
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                event.get("seq"),
                event.get("ts", ""),
                event.get("type", ""),
                orjson.dumps(event.get("data")).decode(),
            )
            for event in events
        ]
        return format_html(
            '<p class="help">{}</p><table class="job-timeline" data-job="{}">'
            "<thead><tr><th>seq</th><th>time</th><th>type</th><th>data</th></tr></thead><tbody>{}</tbody></table>",
            note,
            job.id,
            SafeString("".join(rows)),
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        job = self.get_object(request, object_id)
        context = {
            **(extra_context or {}),
            **_live_context(),
            "can_act": self.has_change_permission(request, job),
            "can_cancel": job is not None and not job.is_finished,
        }
        return super().change_view(request, object_id, form_url, context)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(request, {**(extra_context or {}), **_live_context()})

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<uuid:job_id>/cancel/", wrap(require_POST(self.cancel_view)), name="jobs_job_cancel"),
            path("<uuid:job_id>/rerun/", wrap(require_POST(self.rerun_view)), name="jobs_job_rerun"),
            *super().get_urls(),
        ]

    def cancel_view(self, request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
        job = self._job_to_act_on(request, job_id)
        self._cancel(request, [job])
        return HttpResponseRedirect(reverse("admin:jobs_job_change", args=[job.pk]))

    def rerun_view(self, request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
        job = self._job_to_act_on(request, job_id)
        started = self._rerun(request, [job])
        target = started[0] if started else job
        return HttpResponseRedirect(reverse("admin:jobs_job_change", args=[target.pk]))

    def _job_to_act_on(self, request: HttpRequest, job_id: uuid.UUID) -> Job:
        job = get_object_or_404(Job.objects.select_related("owner"), pk=job_id)
        if not self.has_change_permission(request, job):
            raise PermissionDenied
        return job

    # --- actions ------------------------------------------------------------------------
    @admin.action(description="Cancel selected jobs", permissions=["change"])
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self._cancel(request, queryset.select_related("owner"))

    @admin.action(description="Re-run selected jobs", permissions=["change"])
    def rerun_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self._rerun(request, queryset.select_related("owner"))

    def _cancel(self, request: HttpRequest, jobs: Iterable[Job]) -> None:
        cancelled = skipped = 0
        for job in jobs:
            if job.is_finished:
                skipped += 1
                continue
            try:
                job_cancel(owner=job.owner, job_id=job.pk)
            except JobsError:  # it finished meanwhile
                skipped += 1
                continue
            self.log_change(request, job, "Cancelled from the jobs console.")
            cancelled += 1
        if cancelled:
            self.message_user(
                request, f"Asked {cancelled} job(s) to stop; their owners are told.", messages.SUCCESS
            )
        if skipped:
            self.message_user(
                request, f"{skipped} job(s) had already finished: left alone.", messages.WARNING
            )

    def _rerun(self, request: HttpRequest, jobs: Iterable[Job]) -> list[Job]:
        started: list[Job] = []
        for job in jobs:
            try:
                rerun = job_rerun(job)
            except (JobsError, RedisError, OSError) as exc:
                self.message_user(request, f"Could not re-run {job}: {exc}", messages.ERROR)
                continue
            self.log_change(request, job, f"Re-run as job {rerun.pk}.")
            self.log_addition(request, rerun, f"Re-run of job {job.pk}.")
            started.append(rerun)
        if started:
            self.message_user(
                request, f"Started {len(started)} job(s) again, for the same owners.", messages.SUCCESS
            )
        return started


def _live_context() -> dict[str, Any]:
    """What the page's script needs to follow console:jobs from the moment it was rendered."""
    if not console.live():
        return {"console_channel": ""}
    at = console.position()
    after, epoch = at if at is not None else (None, None)
    return {"console_channel": console.CHANNEL, "console_after": after, "console_epoch": epoch}


def job_timeline(job: Job) -> tuple[list[dict[str, Any]], str]:
    """The job's events still retained in its owner's stream, oldest first, and a note."""
    try:
        history = read_after(job.owner_id, 0, TIMELINE_SCAN)
    except (RedisError, OSError) as exc:
        return [], f"The event history is unavailable: {exc}"
    wanted = str(job.pk)
    events = [event for _, frame in history.frames if (event := orjson.loads(frame)).get("job") == wanted]
    if not events:
        return [], "None of this job's events is retained in its owner's history any more."
    if events[0].get("type") != "job.queued":
        return events, "The first events of this job are no longer retained; the ones still kept:"
    return events, f"{len(events)} event(s), as the owner's sockets got them."


def _id_lookup(term: str) -> dict[str, Any] | None:
    """A whole job id, or the first 8+ hex digits of one (what the list shows), else None."""
    try:
        return {"pk": uuid.UUID(term)}
    except ValueError:
        pass
    digits = term.replace("-", "").lower()
    if 8 <= len(digits) < 32 and all(c in "0123456789abcdef" for c in digits):
        # A range of ids, not a text match: the same on every database, and it uses the key.
        low = uuid.UUID(digits.ljust(32, "0"))
        high = uuid.UUID(digits.ljust(32, "f"))
        return {"pk__gte": low, "pk__lte": high}
    return None


def _duration(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def _pretty(value: Any) -> SafeString:
    if value is None:
        return SafeString("—")
    return format_html(
        '<pre class="job-json">{}</pre>', orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    )
