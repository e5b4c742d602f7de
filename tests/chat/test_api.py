"""The chat API: your rooms, posting (then published on chat:<slug>), and older messages."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from chat.models import Message
from tests.api.conftest import CheckedClient
from tests.chat.conftest import channel_events, client_of, make_message, make_room, say

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_db")]


def test_list_my_rooms_only(alice, bob):
    make_room(slug="lobby", title="Lobby", members=(alice, bob))
    make_room(slug="kitchen", title="Kitchen", members=(alice,))
    make_room(slug="attic", title="Attic", members=(bob,))
    response = client_of(alice).get("/api/chat/rooms")
    assert response.status_code == 200
    assert response.json() == [
        {"slug": "kitchen", "title": "Kitchen", "channel": "chat:kitchen"},
        {"slug": "lobby", "title": "Lobby", "channel": "chat:lobby"},
    ]


def test_posting_stores_the_message_and_publishes_it_once_committed(
    alice, django_capture_on_commit_callbacks
):
    room = make_room(members=(alice,))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = say(client_of(alice), "lobby", "  coucou tout le monde ")
        assert channel_events(room.channel) == []  # not before the commit
    assert response.status_code == 201, response.content
    message = response.json()
    stored = Message.objects.get()
    assert message == {
        "id": stored.pk,
        "room": "lobby",
        "author": {"id": alice.pk, "username": "alice"},
        "body": "coucou tout le monde",
        "created": message["created"],
    }
    assert message["created"].endswith("Z")
    for callback in callbacks:
        callback()
    [event] = channel_events(room.channel)
    assert (event["channel"], event["seq"], event["type"]) == ("chat:lobby", 1, "chat.message")
    assert event["data"] == message  # the same message, the same shape, on both paths


@pytest.mark.django_db(transaction=True)
def test_a_message_rolled_back_is_never_published(alice):
    from django.db import transaction

    from chat.services import message_post

    room = make_room(members=(alice,))
    with pytest.raises(RuntimeError), transaction.atomic():
        message_post(room=room, author=alice, body="never mind")
        raise RuntimeError("rolled back")
    assert channel_events(room.channel) == [] and not Message.objects.exists()
    message_post(room=room, author=alice, body="this one")  # outside a transaction: at once
    assert [e["data"]["body"] for e in channel_events(room.channel)] == ["this one"]


def test_a_message_is_stored_and_answered_201_when_redis_is_away(
    alice, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    from redis.exceptions import ConnectionError

    def unreachable(*args, **kwargs):
        raise ConnectionError("Redis is away")

    monkeypatch.setattr("realtime.channels.append", unreachable)
    make_room(members=(alice,))
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        response = say(client_of(alice), "lobby", "still here")
    assert response.status_code == 201
    assert Message.objects.get().body == "still here"
    assert "Redis is away" in caplog.text


def test_a_non_member_can_neither_post_nor_read_and_learns_nothing(
    alice, bob, django_capture_on_commit_callbacks
):
    room = make_room(members=(alice,))
    make_message(room=room, author=alice, body="members only")
    outsider = client_of(bob)
    with django_capture_on_commit_callbacks(execute=True):
        for slug in ("lobby", "nowhere"):  # a room of others answers as one that does not exist
            posted = say(outsider, slug, "let me in")
            read = outsider.get(f"/api/chat/rooms/{slug}/messages")
            assert (posted.status_code, posted.json()) == (404, {"detail": "Not found"})
            assert (read.status_code, read.json()) == (404, {"detail": "Not found"})
    assert Message.objects.count() == 1 and channel_events(room.channel) == []
    assert outsider.get("/api/chat/rooms").json() == []


@pytest.mark.parametrize(
    ("body", "type_"),
    [
        ("", "string_too_short"),
        ("   \n\t ", "string_too_short"),
        ("x" * 2001, "string_too_long"),
        (42, "string_type"),
        (None, "string_type"),
        ("nul \x00 byte", "value_error"),
    ],
)
def test_an_invalid_body_is_422_naming_the_field(alice, body, type_):
    make_room(members=(alice,))
    response = say(client_of(alice), "lobby", body)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", "body"], type_)
    assert not Message.objects.exists()


def test_a_missing_body_is_422_and_broken_json_400(alice):
    make_room(members=(alice,))
    client = client_of(alice)
    missing = client.post("/api/chat/rooms/lobby/messages", {}, content_type="application/json")
    broken = client.post("/api/chat/rooms/lobby/messages", "{nope", content_type="application/json")
    assert (missing.status_code, broken.status_code) == (422, 400)  # 400: ninja's, for every route


def test_2000_characters_is_the_most_a_message_holds(alice):
    make_room(members=(alice,))
    assert say(client_of(alice), "lobby", "é" * 2000).status_code == 201


def test_a_request_over_the_api_body_limit_is_413(alice, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    make_room(members=(alice,))
    response = say(client_of(alice), "lobby", "x" * 1500)
    assert (response.status_code, response.json()) == (413, {"detail": "request body too large"})
    assert not Message.objects.exists()


def test_posting_is_throttled_per_user_with_retry_after(alice, bob, settings):
    settings.CHAT_MESSAGE_RATE = "2/m"
    make_room(members=(alice, bob))
    alice_client, bob_client = client_of(alice), client_of(bob)
    assert [say(alice_client, "lobby", f"m{i}").status_code for i in range(2)] == [201, 201]
    throttled = say(alice_client, "lobby", "one too many")
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert say(bob_client, "lobby", "my own budget").status_code == 201
    assert Message.objects.count() == 3


def test_without_credentials_every_call_is_401(alice):
    make_room(members=(alice,))
    anonymous = CheckedClient()
    assert anonymous.get("/api/chat/rooms").status_code == 401
    assert say(anonymous, "lobby", "hi").status_code == 401
    assert anonymous.get("/api/chat/rooms/lobby/messages").status_code == 401
    forged = CheckedClient(HTTP_AUTHORIZATION="Bearer cou_not-a-token")
    assert say(forged, "lobby", "hi").status_code == 401


def test_a_session_post_needs_its_csrf_token(alice):
    make_room(members=(alice,))
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert say(browser, "lobby", "no token").status_code == 403
    browser.get("/chat/lobby/")  # the page sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    response = browser.post(
        "/api/chat/rooms/lobby/messages", {"body": "with token"}, content_type="application/json",
        headers={"X-CSRFToken": token},
    )  # fmt: skip
    assert response.status_code == 201
    assert [m.body for m in Message.objects.all()] == ["with token"]


def test_older_messages_page_newest_first_with_before(alice, bob):
    room = make_room(members=(alice, bob))
    other = make_room(slug="kitchen", members=(alice,))
    ids = [make_message(room=room, author=(alice, bob)[i % 2], body=f"m{i}").pk for i in range(7)]
    make_message(room=other, author=alice, body="elsewhere")
    client = client_of(bob)

    first = client.get("/api/chat/rooms/lobby/messages?limit=3").json()
    assert [m["body"] for m in first["items"]] == ["m6", "m5", "m4"] and first["more"] is True
    assert first["items"][0]["author"] == {"id": alice.pk, "username": "alice"}
    second = client.get(f"/api/chat/rooms/lobby/messages?limit=3&before={first['items'][-1]['id']}").json()
    assert [m["body"] for m in second["items"]] == ["m3", "m2", "m1"] and second["more"] is True
    last = client.get(f"/api/chat/rooms/lobby/messages?limit=3&before={ids[1]}").json()
    assert (last["items"], last["more"]) == ([{**last["items"][0], "body": "m0"}], False)
    everything = client.get("/api/chat/rooms/lobby/messages").json()
    assert len(everything["items"]) == 7 and everything["more"] is False


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "before=0", "before=-3", "before=99999999999999999999999"]
)
def test_out_of_bounds_paging_is_422(alice, query):
    make_room(members=(alice,))
    assert client_of(alice).get(f"/api/chat/rooms/lobby/messages?{query}").status_code == 422
