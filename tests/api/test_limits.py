"""What a client meets at the API's limits: page bounds, params size, active jobs, throttling."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from django.test import RequestFactory

from api.throttling import EnqueueThrottle
from jobs.models import Job
from tests.api.conftest import post_job
from tests.conftest import make_job

pytestmark = pytest.mark.usefixtures("redis_db")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("offset=1000001", "offset"),
        ("offset=-1", "offset"),
        ("offset=99999999999999999999999", "offset"),
    ],
)
def test_out_of_bounds_pagination_is_422_naming_the_parameter(client, query, field):
    response = client.get(f"/api/jobs?{query}")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"][-1] == field


def test_pagination_bounds_themselves_are_fine(client, alice):
    make_job(owner=alice)
    assert len(client.get("/api/jobs?limit=100").json()["items"]) == 1
    page = client.get("/api/jobs?limit=1&offset=1000000").json()
    assert (page["count"], page["items"]) == (1, [])


def test_params_over_the_limit_are_413_and_create_nothing(client, settings):
    settings.JOBS_MAX_PARAMS_BYTES = 100
    response = post_job(client, {"task": "demo.fail", "params": {"message": "x" * 100}})
    assert response.status_code == 413
    assert response.json() == {"detail": "params are limited to 100 bytes of JSON"}
    assert not Job.objects.exists()
    assert post_job(client, {"task": "demo.fail", "params": {"message": "x" * 50}}).status_code == 202


def test_params_size_is_counted_in_utf8_bytes(client, settings):
    settings.JOBS_MAX_PARAMS_BYTES = 100
    response = post_job(client, {"task": "demo.fail", "params": {"message": "é" * 45}})
    assert response.status_code == 413  # 45 characters, but 90 bytes and the JSON around them


def test_an_integer_too_big_for_64_bits_is_judged_by_the_schema_not_a_500(client):
    response = client.post(
        "/api/jobs",
        '{"task": "demo.count", "params": {"n": 1' + "0" * 30 + "}}",
        content_type="application/json",
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "params", "n"]


def test_past_the_active_jobs_cap_is_429_with_retry_after(client, alice, settings):
    settings.JOBS_MAX_ACTIVE_PER_USER = 2
    make_job(owner=alice, status="queued")
    make_job(owner=alice, status="running")
    make_job(owner=alice, status="succeeded")  # finished jobs do not count
    response = post_job(client, {"task": "coucou"})
    assert response.status_code == 429
    assert response.json() == {"detail": "at most 2 queued or running jobs per user; wait for one to finish"}
    assert int(response["Retry-After"]) > 0
    assert client.post("/api/coucou").status_code == 429
    assert Job.objects.owned_by(alice).count() == 3


def test_the_cap_counts_each_user_separately(client, alice, bob, settings):
    settings.JOBS_MAX_ACTIVE_PER_USER = 1
    make_job(owner=bob, status="running")
    assert post_job(client, {"task": "coucou"}).status_code == 202
    assert post_job(client, {"task": "coucou"}).status_code == 429


def throttled_request(user: Any) -> Any:
    request = RequestFactory().post("/api/coucou")
    request.user = user
    return request


def test_the_enqueue_throttle_counts_per_user_in_redis(alice, bob):
    throttle = EnqueueThrottle("2/m")
    assert [throttle.allow_request(throttled_request(alice)) for _ in range(3)] == [True, True, False]
    assert throttle.wait() > 0
    assert EnqueueThrottle("2/m").allow_request(throttled_request(bob))


def test_the_enqueue_throttle_fails_open_when_its_redis_is_unreachable(client, alice, monkeypatch, caplog):
    unreachable = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    monkeypatch.setattr("api.throttling.fail_fast_client", lambda: unreachable)
    throttle = EnqueueThrottle("1/m")
    assert all(throttle.allow_request(throttled_request(alice)) for _ in range(3))
    response = post_job(client, {"task": "coucou"})
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    assert "throttle unavailable, allowing the request" in caplog.text


def test_concurrent_requests_cannot_both_take_the_last_slot(alice):
    throttle = EnqueueThrottle("5/m")
    with ThreadPoolExecutor(max_workers=8) as pool:
        allowed = list(pool.map(lambda _: throttle.allow_request(throttled_request(alice)), range(40)))
    assert allowed.count(True) == 5
