"""The REST contract of DESIGN §3, through Django's whole request path (middleware included)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.api.conftest import CheckedClient, post_job
from tests.conftest import make_job

pytestmark = pytest.mark.usefixtures("redis_db")

JOB_KEYS = {
    "id", "task", "params", "status", "progress", "result", "error",
    "attempts", "channel", "parent", "root", "children", "created_at", "started_at", "finished_at",
}  # fmt: skip


def loc_of(response: Any) -> list[list[Any]]:
    return [error["loc"] for error in response.json()["detail"]]


@pytest.mark.parametrize(
    "authorization", [None, "Bearer cou_wrong", "Bearer ", "Basic YWxpY2U6cHc=", "cou_x"]
)
def test_no_or_bad_credentials_get_401(alice, authorization):
    headers = {"authorization": authorization} if authorization else {}
    client = CheckedClient(headers=headers)
    for response in (client.get("/api/jobs"), client.get("/api/tasks"), post_job(client, {"task": "coucou"})):
        assert response.status_code == 401
        assert response.json() == {"detail": "Unauthorized"}


def test_a_token_stops_working_when_its_user_is_deactivated_or_it_is_deleted(alice, alice_token):
    client = CheckedClient(headers={"authorization": f"Bearer {alice_token}"})
    assert client.get("/api/jobs").status_code == 200
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert client.get("/api/jobs").status_code == 401
    alice.is_active = True
    alice.save(update_fields=["is_active"])
    alice.api_tokens.all().delete()
    assert client.get("/api/jobs").status_code == 401


def test_tasks_lists_the_builtins_with_their_params_schema(client):
    response = client.get("/api/tasks")
    assert response.status_code == 200
    tasks = {task["name"]: task for task in response.json()}
    assert {"coucou", "demo.count", "demo.fail", "demo.sleep"} <= tasks.keys()
    assert tasks["demo.count"]["params_schema"]["properties"]["n"]["maximum"] == 1_000_000
    assert tasks["demo.sleep"]["params_schema"]["required"] == ["seconds"]
    assert tasks["coucou"]["params_schema"]["properties"] == {}
    assert all(task["description"] for task in tasks.values())


def test_post_job_answers_202_with_the_job_and_enqueues_it(
    client, alice, redis_db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_job(client, {"task": "demo.count", "params": {"n": 4}})
    assert response.status_code == 202
    job = response.json()
    assert job.keys() == JOB_KEYS
    assert uuid.UUID(job["id"])
    assert job["task"] == "demo.count"
    assert job["params"] == {"n": 4, "interval_ms": 0}
    assert job["status"] == "queued"
    assert job["progress"] == {"current": None, "total": None, "percent": None, "message": ""}
    assert (job["result"], job["error"], job["attempts"]) == (None, None, 0)
    assert job["created_at"].endswith("Z") or "+" in job["created_at"]
    assert (job["started_at"], job["finished_at"]) == (None, None)
    assert redis_db.llen("celery") == 1
    assert client.get(f"/api/jobs/{job['id']}").json() == job


def test_post_coucou_starts_the_coucou_job(client):
    response = client.post("/api/coucou")
    assert response.status_code == 202
    assert response.json()["task"] == "coucou"


def test_idempotency_key_returns_the_same_job(client):
    first = post_job(client, {"task": "coucou"}, idempotency_key="abc")
    again = post_job(client, {"task": "coucou"}, idempotency_key="abc")
    other = post_job(client, {"task": "coucou"}, idempotency_key="xyz")
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"] != other.json()["id"]


def test_unknown_task_is_422_naming_task(client):
    response = post_job(client, {"task": "rm.rf", "params": {}})
    assert response.status_code == 422
    assert loc_of(response) == [["body", "task"]]
    assert "unknown task 'rm.rf'" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"params": {}}, ["body", "task"]),
        ({"task": "x" * 201}, ["body", "task"]),
        ({"task": "demo.count", "params": [1]}, ["body", "params"]),
    ],
)
def test_a_malformed_field_is_422_at_the_path_the_client_wrote(client, body, loc):
    response = post_job(client, body)
    assert response.status_code == 422
    assert loc_of(response) == [loc]  # never ninja's own name for the body, "payload"


def test_unknown_params_are_422_each_by_name(client):
    response = post_job(client, {"task": "demo.count", "params": {"n": 1, "verbose": True}})
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["body", "params", "verbose"], "msg": "unknown param", "type": "extra_forbidden"}
    ]


@pytest.mark.parametrize(
    ("params", "field", "why"),
    [
        ({"n": 0}, "n", "greater than or equal to 1"),
        ({"n": 2_000_000}, "n", "less than or equal to 1000000"),
        ({"n": "ten"}, "n", "valid integer"),
        ({}, "n", "Field required"),
        ({"n": 1, "interval_ms": -5}, "interval_ms", "greater than or equal to 0"),
    ],
)
def test_bad_params_are_422_naming_the_field_and_why(client, params, field, why):
    response = post_job(client, {"task": "demo.count", "params": params})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "params", field]
    assert why in error["msg"]


@pytest.mark.parametrize("body", ["{not json", "", "[]", '"demo.count"', '{"task": ["coucou"]}'])
def test_malformed_bodies_are_4xx_not_500(client, body):
    response = client.post("/api/jobs", body, content_type="application/json")
    assert 400 <= response.status_code < 500
    assert "detail" in response.json()


def test_a_body_over_the_limit_is_413(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = post_job(client, {"task": "demo.fail", "params": {"message": "x" * 2000}})
    assert response.status_code == 413
    assert response.json() == {"detail": "request body too large"}


def test_list_jobs_is_newest_first_and_paginated(client, alice, bob):
    now = timezone.now()
    ids = [str(make_job(owner=alice, created_at=now - timedelta(minutes=m)).id) for m in range(5)]
    make_job(owner=bob)
    page = client.get("/api/jobs?limit=2").json()
    assert page["count"] == 5
    assert [job["id"] for job in page["items"]] == ids[:2]
    page = client.get("/api/jobs?limit=2&offset=4").json()
    assert [job["id"] for job in page["items"]] == ids[4:]
    assert client.get("/api/jobs").json()["count"] == 5


def test_list_jobs_filters_by_status_and_task(client, alice):
    make_job(owner=alice, task="demo.count", status="succeeded")
    failed = make_job(owner=alice, task="demo.fail", params={"message": "x"}, status="failed")
    make_job(owner=alice, task="demo.count", status="queued")
    by_status = client.get("/api/jobs?status=failed").json()
    assert [job["id"] for job in by_status["items"]] == [str(failed.id)]
    assert client.get("/api/jobs?task=demo.count").json()["count"] == 2
    assert client.get("/api/jobs?task=demo.count&status=queued").json()["count"] == 1
    assert client.get("/api/jobs?status=exploded").status_code == 422


def test_a_job_of_another_user_is_404(client, bob):
    theirs = make_job(owner=bob)
    response = client.get(f"/api/jobs/{theirs.id}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found"}
    assert client.get(f"/api/jobs/{uuid.uuid4()}").status_code == 404


def test_cancel_a_queued_job_is_202_and_it_is_cancelled(client, alice):
    queued = make_job(owner=alice)
    response = client.post(f"/api/jobs/{queued.id}/cancel")
    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    assert response.json()["finished_at"]
    assert client.get(f"/api/jobs/{queued.id}").json() == response.json()


def test_cancel_a_running_job_is_202_and_it_runs_until_it_stops(client, alice):
    running = make_job(owner=alice, status="running", attempts=1, started_at=timezone.now())
    response = client.post(f"/api/jobs/{running.id}/cancel")
    assert response.status_code == 202
    assert (response.json()["status"], response.json()["finished_at"]) == ("running", None)


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled"])
def test_cancel_a_finished_job_is_409_saying_how_it_ended(client, alice, status):
    done = make_job(owner=alice, status=status)
    response = client.post(f"/api/jobs/{done.id}/cancel")
    assert response.status_code == 409
    assert response.json() == {"detail": f"the job is already {status}"}


def test_cancel_a_job_of_another_user_or_none_is_404(client, bob):
    theirs = make_job(owner=bob)
    for job_id in (theirs.id, uuid.uuid4()):
        response = client.post(f"/api/jobs/{job_id}/cancel")
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found"}
    theirs.refresh_from_db()
    assert theirs.status == "queued"


@pytest.mark.parametrize("job_id", ["not-a-uuid", "1", "00000000-0000-0000-0000-00000000000g"])
def test_an_invalid_job_id_is_4xx_not_500(client, job_id):
    assert 400 <= client.get(f"/api/jobs/{job_id}").status_code < 500


def test_session_auth_needs_the_csrf_token_on_post(alice):
    browser = CheckedClient(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.get("/api/jobs").status_code == 200
    assert post_job(browser, {"task": "coucou"}).status_code == 403
    browser.get("/admin/login/")  # any page of the site hands out the CSRF cookie
    token = browser.cookies["csrftoken"].value
    response = post_job(browser, {"task": "coucou"}, x_csrftoken=token)
    assert response.status_code == 202
    assert response.json()["task"] == "coucou"


def test_health_reports_db_redis_and_broker(anonymous, db):
    response = anonymous.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "db": True, "redis": True, "broker": True}


def test_openapi_docs_are_served(client):
    schema = client.get("/api/openapi.json").json()
    assert {"/api/jobs", "/api/tasks", "/api/health"} <= schema["paths"].keys()
