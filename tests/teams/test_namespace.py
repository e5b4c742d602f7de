"""``team:<id>``: who may read it, and a member taken off a team is kicked off its channel."""

from __future__ import annotations

import pytest

from realtime import namespaces
from realtime.namespaces import may_read
from tests.conftest import make_user
from tests.teams.conftest import make_team


def test_the_team_namespace_keeps_history_has_presence_and_carries_jobs():
    declared = namespaces.declared()["team"]
    assert (declared.history, declared.presence, declared.jobs, declared.public) == (1_000, True, True, False)


@pytest.mark.django_db
def test_members_may_read_their_teams_channel_and_nobody_else(alice, bob):
    night, day = make_team(members=(alice,)), make_team(name="Day shift", members=(bob,))
    assert may_read(alice, night.channel) and not may_read(alice, day.channel)
    assert may_read(bob, day.channel) and not may_read(bob, night.channel)
    # Slugs and huge or absent ids name no channel a user may read.
    for name in (night.slug, "0", "999999", "9" * 100, "1.0", "1e3"):
        assert not may_read(alice, f"team:{name}")


@pytest.mark.django_db
def test_an_anonymous_user_may_not_read_a_team(alice):
    from django.contrib.auth.models import AnonymousUser

    team = make_team(members=(alice,))
    assert not may_read(AnonymousUser(), team.channel)


@pytest.mark.django_db
def test_removing_a_member_kicks_them_off_the_channel_once_committed(
    alice, bob, monkeypatch, django_capture_on_commit_callbacks
):
    kicked: list[tuple[str, int]] = []
    monkeypatch.setattr("teams.realtime.kick", lambda channel, user_id: kicked.append((channel, user_id)))
    carol = make_user(username="carol")
    team = make_team(members=(alice, bob, carol))
    other = make_team(name="Day shift", members=(alice,))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        team.members.remove(bob)
    assert kicked == []  # not before the commit: bob could still subscribe again
    for callback in callbacks:
        callback()
    assert kicked == [(team.channel, bob.pk)]

    kicked.clear()
    with django_capture_on_commit_callbacks(execute=True):
        alice.teams.remove(other)
    assert kicked == [(other.channel, alice.pk)]

    kicked.clear()
    with django_capture_on_commit_callbacks(execute=True):
        team.members.clear()
    assert sorted(kicked) == sorted([(team.channel, alice.pk), (team.channel, carol.pk)])

    kicked.clear()
    with django_capture_on_commit_callbacks(execute=True):
        team.members.add(bob)  # adding kicks nobody
    assert kicked == []


@pytest.mark.django_db
def test_deleting_a_team_kicks_its_members(alice, bob, monkeypatch, django_capture_on_commit_callbacks):
    kicked: list[tuple[str, int]] = []
    monkeypatch.setattr("teams.realtime.kick", lambda channel, user_id: kicked.append((channel, user_id)))
    team = make_team(members=(alice, bob))
    channel = team.channel
    with django_capture_on_commit_callbacks(execute=True):
        team.delete()
    assert sorted(kicked) == sorted([(channel, alice.pk), (channel, bob.pk)])
