"""``chat:<slug>``: who may read it and see who is there; a member taken off is kicked."""

from __future__ import annotations

import pytest

from realtime import namespaces
from realtime.namespaces import may_read
from tests.chat.conftest import client_of, make_room
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def test_the_chat_namespace_keeps_history_and_has_presence():
    declared = namespaces.declared()["chat"]
    assert (declared.history, declared.presence, declared.public, declared.jobs) == (
        1_000,
        True,
        False,
        False,
    )


def test_members_may_read_their_rooms_channel_and_nobody_else(alice, bob):
    from django.contrib.auth.models import AnonymousUser

    make_room(slug="lobby", members=(alice,))
    make_room(slug="attic", members=(bob,))
    assert may_read(alice, "chat:lobby") and not may_read(alice, "chat:attic")
    assert may_read(bob, "chat:attic") and not may_read(bob, "chat:lobby")
    assert not may_read(alice, "chat:nowhere")
    assert not may_read(AnonymousUser(), "chat:lobby")


@pytest.mark.usefixtures("redis_db")
def test_presence_is_for_members_only(alice, bob):
    make_room(members=(alice,))
    assert client_of(alice).get("/api/realtime/presence/chat:lobby").json() == {"users": []}
    assert client_of(bob).get("/api/realtime/presence/chat:lobby").status_code == 403
    assert client_of(bob).get("/api/realtime/presence/chat:nowhere").status_code == 403


def test_a_room_slug_must_be_a_channel_name():
    from django.core.exceptions import ValidationError

    from chat.models import Room

    for slug in ("Lobby", "_lobby", "-lobby", "lo bby", "x" * 101):
        with pytest.raises(ValidationError):
            Room(slug=slug, title="t").full_clean()
    Room(slug="lobby.2_b-c", title="t").full_clean()


def test_removing_a_member_kicks_them_off_the_channel_once_committed(
    alice, bob, monkeypatch, django_capture_on_commit_callbacks
):
    kicked: list[tuple[str, int]] = []
    monkeypatch.setattr("chat.realtime.kick", lambda channel, user_id: kicked.append((channel, user_id)))
    carol = make_user(username="carol")
    lobby = make_room(slug="lobby", members=(alice, bob, carol))
    attic = make_room(slug="attic", members=(alice,))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        lobby.members.remove(bob)
    assert kicked == []  # not before the commit: bob could subscribe again in between
    for callback in callbacks:
        callback()
    assert kicked == [("chat:lobby", bob.pk)]

    kicked.clear()
    with django_capture_on_commit_callbacks(execute=True):
        alice.chat_rooms.remove(attic)
    assert kicked == [("chat:attic", alice.pk)]

    kicked.clear()
    with django_capture_on_commit_callbacks(execute=True):
        lobby.members.clear()
    assert sorted(kicked) == [("chat:lobby", alice.pk), ("chat:lobby", carol.pk)]

    kicked.clear()
    with django_capture_on_commit_callbacks(execute=True):
        lobby.members.add(bob)
        lobby.delete()
    assert kicked == [("chat:lobby", bob.pk)]


def test_a_kick_that_fails_does_not_fail_the_membership_change(
    alice, bob, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    from redis.exceptions import ConnectionError

    def unreachable(channel, user_id):
        raise ConnectionError("Redis is away")

    monkeypatch.setattr("chat.realtime.kick", unreachable)
    room = make_room(members=(alice, bob))
    with django_capture_on_commit_callbacks(execute=True):
        room.members.remove(bob)
    assert list(room.members.all()) == [alice]
    assert "Redis is away" in caplog.text
