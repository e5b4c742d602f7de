"""``/teams/<id>/``: the team's job board, for its members only."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.conftest import make_job
from tests.teams.conftest import make_team

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_member_sees_the_board_with_the_teams_jobs_and_its_channel(alice, bob):
    team = make_team(members=(alice, bob))
    shared = make_job(
        owner=bob, task="demo.count", channel=team.channel, progress_current=1, progress_total=4
    )
    make_job(owner=bob, task="demo.sleep", params={"seconds": 1})  # bob's own, not the team's
    response = signed_in(alice).get(f"/teams/{team.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-channel="team:{team.pk}"' in html
    assert "teams/board.js" in html
    rows = json.loads(html.split('id="board-jobs" type="application/json">')[1].split("</script>")[0])
    assert [(row["id"], row["owner"], row["task"], row["percent"]) for row in rows] == [
        (str(shared.id), "bob", "demo.count", 25.0)
    ]


def test_the_boards_json_is_the_same_rows(alice):
    team = make_team(members=(alice,))
    job = make_job(owner=alice, channel=team.channel, status="failed", error={"type": "X", "message": "no"})
    response = signed_in(alice).get(f"/teams/{team.pk}/jobs.json")
    assert response.status_code == 200
    [row] = response.json()["jobs"]
    assert (row["id"], row["status"], row["error"]) == (str(job.id), "failed", "no")


@pytest.mark.parametrize("path", ["/teams/{id}/", "/teams/{id}/jobs.json"])
def test_anyone_but_a_member_gets_404_like_an_absent_team(alice, bob, path):
    team = make_team(members=(bob,))
    client = signed_in(alice)
    assert client.get(path.format(id=team.pk)).status_code == 404
    assert client.get(path.format(id=team.pk + 1000)).status_code == 404
    assert client.get(path.format(id="9" * 40)).status_code == 404


def test_signing_in_is_required(bob):
    team = make_team(members=(bob,))
    response = Client().get(f"/teams/{team.pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_admin_lists_teams(alice):
    from django.contrib import admin

    from teams.models import Team

    assert admin.site.is_registered(Team)
