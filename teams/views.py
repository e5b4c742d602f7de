"""A team's live job board: the jobs its members started on ``team:<id>``, and who is here."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render

from jobs.models import Job
from teams.models import Team

BOARD_JOBS = 50


@login_required
def board(request: HttpRequest, team_id: int) -> HttpResponse:
    team = _team_of_member(request, team_id)
    return render(request, "teams/board.html", {"team": team, "jobs": _rows(team)})


@login_required
def board_jobs(request: HttpRequest, team_id: int) -> JsonResponse:
    """The board's rows from the database, the truth: what the page reloads after a resync."""
    return JsonResponse({"jobs": _rows(_team_of_member(request, team_id))})


def _team_of_member(request: HttpRequest, team_id: int) -> Team:
    # Members only; anyone else gets the 404 an absent team gets, so ids reveal nothing.
    return get_object_or_404(Team.objects.of_member(request.user), pk=team_id)


def _rows(team: Team) -> list[dict[str, Any]]:
    jobs = Job.objects.on_channel(team.channel).select_related("owner")[:BOARD_JOBS]
    return [_row(job) for job in jobs]


def _row(job: Job) -> dict[str, Any]:
    """What the board shows of a job, in the shape its events update (teams/static/teams/board.js)."""
    return {
        "id": str(job.id),
        "task": job.task,
        "owner": job.owner.get_username(),
        "status": job.status,
        "percent": job.percent,
        "message": job.progress_message,
        "error": (job.error or {}).get("message") if job.status == "failed" else None,
        "created_at": job.created_at.isoformat(),
    }
