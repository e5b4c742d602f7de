"""GET /api/events: the caller's retained events after a seq, within an epoch."""

from __future__ import annotations

import pytest

from realtime import publish

pytestmark = pytest.mark.usefixtures("redis_db")


def test_events_after_a_seq_within_the_epoch(client, alice):
    for i in range(3):
        publish(alice.pk, "n", {"i": i})
    body = client.get("/api/events?after=1").json()
    assert [e["seq"] for e in body["events"]] == [2, 3]
    assert {e["epoch"] for e in body["events"]} == {body["epoch"]}
    assert (body["latest"], body["resync"]) == (3, False)
    again = client.get(f"/api/events?after=3&epoch={body['epoch']}").json()
    assert (again["events"], again["resync"]) == ([], False)


def test_another_epoch_gives_resync_and_the_current_epochs_events(client, alice, redis_db):
    publish(alice.pk, "old")
    old = client.get("/api/events").json()["epoch"]
    redis_db.flushdb()  # Redis restarted empty
    publish(alice.pk, "new")
    body = client.get(f"/api/events?after=1&epoch={old}").json()
    assert body["resync"] is True
    assert body["epoch"] != old
    assert [(e["seq"], e["type"]) for e in body["events"]] == [(1, "new")]


def test_a_seq_ahead_of_the_latest_gives_resync(client, alice):
    publish(alice.pk, "n")
    assert client.get("/api/events?after=9").json()["resync"] is True


@pytest.mark.parametrize("epoch", ["NOPE", "a" * 33, "'; drop"])
def test_a_malformed_epoch_is_a_422(client, epoch):
    response = client.get("/api/events", {"after": 0, "epoch": epoch})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "epoch"


def test_events_need_credentials(anonymous, db):
    assert anonymous.get("/api/events").status_code == 401


def test_other_users_events_are_not_listed(client, alice, bob):
    publish(bob.pk, "secret")
    assert client.get("/api/events").json()["events"] == []
