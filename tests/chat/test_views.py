"""``/chat/<slug>/``, the room's page, for members only; the admin; ``create_room``."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from chat.models import Room
from tests.chat.conftest import make_room

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_member_gets_the_page_with_its_channel_and_a_csrf_token(alice):
    make_room(slug="lobby", title="The lobby", members=(alice,))
    response = signed_in(alice).get("/chat/lobby/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-channel="chat:lobby"' in html and "The lobby" in html
    assert "chat/room.js" in html and 'name="csrf-token"' in html
    assert 'maxlength="2000"' in html


def test_anyone_but_a_member_gets_404_like_an_absent_room(alice, bob):
    make_room(slug="lobby", members=(bob,))
    client = signed_in(alice)
    assert client.get("/chat/lobby/").status_code == 404
    assert client.get("/chat/nowhere/").status_code == 404


def test_signing_in_is_required(alice):
    make_room(members=(alice,))
    response = Client().get("/chat/lobby/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_admin_edits_rooms_and_messages():
    from django.contrib import admin

    from chat.models import Message

    assert admin.site.is_registered(Room) and admin.site.is_registered(Message)


def test_create_room_makes_a_room_with_members_and_adds_more_later(alice, bob, capsys):
    call_command("create_room", "lobby", "--members", "alice", "bob")
    room = Room.objects.get(slug="lobby")
    assert room.title == "lobby"
    assert sorted(room.members.values_list("username", flat=True)) == ["alice", "bob"]
    assert "/chat/lobby/" in capsys.readouterr().out

    from tests.conftest import make_user

    make_user(username="carol")
    call_command("create_room", "lobby", "--title", "The lobby", "--members", "carol")
    room.refresh_from_db()
    assert room.title == "The lobby" and room.members.count() == 3


def test_create_room_refuses_unknown_users_and_bad_slugs(alice):
    with pytest.raises(CommandError, match="no such user: nobody"):
        call_command("create_room", "lobby", "--members", "alice", "nobody")
    with pytest.raises(CommandError, match="slug"):
        call_command("create_room", "Not A Channel", "--members", "alice")
    assert not Room.objects.exists()
