"""``POST /api/jobs`` with ``"channel"``: who may share a job on a channel, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from api.tokens import create_token
from jobs.models import Job
from realtime import namespace
from tests.api.conftest import CheckedClient, post_job
from tests.teams.conftest import make_team

pytestmark = pytest.mark.usefixtures("redis_db")


def client_of(user: Any) -> CheckedClient:
    return CheckedClient(HTTP_AUTHORIZATION=f"Bearer {create_token(user=user)}")


def count_job(channel: Any) -> dict[str, Any]:
    return {"task": "demo.count", "params": {"n": 2}, "channel": channel}


def test_a_member_starts_a_job_on_the_team_channel(alice, bob, django_capture_on_commit_callbacks):
    team = make_team(members=(alice, bob))
    with django_capture_on_commit_callbacks(execute=True):
        response = post_job(client_of(alice), count_job(f"team:{team.pk}"))
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["channel"] == f"team:{team.pk}"
    assert Job.objects.get(pk=body["id"]).channel == f"team:{team.pk}"
    assert client_of(alice).get(f"/api/jobs/{body['id']}").json()["channel"] == f"team:{team.pk}"


def test_a_job_without_a_channel_says_null(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_job(client_of(alice), {"task": "demo.count", "params": {"n": 2}})
    assert response.status_code == 202
    assert response.json()["channel"] is None
    with django_capture_on_commit_callbacks(execute=True):
        response = post_job(client_of(alice), count_job(None))
    assert response.status_code == 202
    assert response.json()["channel"] is None


def test_a_non_member_is_refused_with_403_and_no_job_is_made(alice, bob):
    team = make_team(members=(bob,))
    response = post_job(client_of(alice), count_job(f"team:{team.pk}"))
    assert response.status_code == 403
    assert response.json() == {"detail": f"you may not read the channel 'team:{team.pk}'"}
    assert not Job.objects.exists()


@pytest.mark.parametrize("name", ["999999", "slug-of-no-team", "9" * 30, "0"])
def test_a_team_that_does_not_exist_is_refused_like_a_foreign_one(alice, name):
    make_team(members=(alice,))
    response = post_job(client_of(alice), count_job(f"team:{name}"))
    assert response.status_code == 403
    assert not Job.objects.exists()


def test_an_unknown_namespace_is_a_422_naming_the_field(alice):
    response = post_job(client_of(alice), count_job("nosuch:42"))
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["body", "channel"], "msg": "no namespace 'nosuch'", "type": "unknown_channel"}
    ]
    assert not Job.objects.exists()


@pytest.mark.usefixtures("scratch_namespaces")
def test_a_namespace_that_does_not_carry_jobs_is_a_422(alice):
    namespace("lobby")(lambda user, name: True)  # anyone may read it, but it carries no jobs
    response = post_job(client_of(alice), count_job("lobby:main"))
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "channel"]
    assert error["type"] == "no_jobs"
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "channel",
    ["team", "team:", ":42", "Team:1", "team:UPPER", "team:a b", "x" * 200, 42, ["team:1"], {"a": 1}],
)
def test_a_malformed_channel_is_a_422_naming_the_field(alice, channel):
    response = post_job(client_of(alice), count_job(channel))
    assert response.status_code == 422, response.content
    assert all(error["loc"][:2] == ["body", "channel"] for error in response.json()["detail"])
    assert not Job.objects.exists()


def test_the_channel_is_checked_before_the_idempotency_key(alice, bob, django_capture_on_commit_callbacks):
    team = make_team(members=(alice,))
    client = client_of(alice)
    with django_capture_on_commit_callbacks(execute=True):
        first = post_job(client, count_job(f"team:{team.pk}"), **{"Idempotency-Key": "k1"})
    assert first.status_code == 202
    other = make_team(name="Day shift", members=(bob,))
    assert post_job(client, count_job(f"team:{other.pk}"), **{"Idempotency-Key": "k1"}).status_code == 403


def test_the_openapi_document_describes_the_field_and_the_403(anonymous_client):
    document = anonymous_client.get("/api/openapi.json").json()
    operation = document["paths"]["/api/jobs"]["post"]
    assert "403" in operation["responses"]
    job_in = document["components"]["schemas"]["JobIn"]["properties"]
    assert "channel" in job_in
    assert "channel" in document["components"]["schemas"]["JobOut"]["properties"]


@pytest.fixture
def anonymous_client() -> CheckedClient:
    return CheckedClient()
