"""The ``team`` namespace: ``team:<id>`` is readable by the team's members and carries jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

from realtime import kick, namespace
from teams.models import Team

_MAX_ID_DIGITS = 18  # fits a 64-bit primary key: a longer name names no team


@namespace("team", history=1_000, presence=True, jobs=True)
def team(user: Any, name: str) -> bool:
    """May ``user`` read ``team:<name>``? Only a member of the team whose id is ``name``."""
    if not (name.isdigit() and len(name) <= _MAX_ID_DIGITS):
        return False
    return Team.objects.filter(pk=int(name), members=user).exists()


def members_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **_: Any
) -> None:
    """A user taken off a team stops hearing its channel at once (realtime.kick), on commit."""
    if action not in ("post_remove", "pre_clear"):
        return
    if reverse:  # user.teams.remove(...): instance is the user, pk_set the teams
        teams = pk_set if pk_set is not None else _team_ids(instance)
        pairs = [(team_id, instance.pk) for team_id in teams]
    else:  # team.members.remove(...): instance is the team, pk_set the users
        users = pk_set if pk_set is not None else set(instance.members.values_list("pk", flat=True))
        pairs = [(instance.pk, user_id) for user_id in users]
    _kick_on_commit(pairs)


def team_deleted(sender: Any, instance: Any, **_: Any) -> None:
    """A deleted team's members stop hearing its channel (its rows go without m2m_changed)."""
    _kick_on_commit([(instance.pk, user_id) for user_id in instance.members.values_list("pk", flat=True)])


def _kick_on_commit(pairs: list[tuple[int, int]]) -> None:
    for team_id, user_id in pairs:
        # robust: Redis being down must not fail the membership change that already committed.
        transaction.on_commit(_kicker(f"team:{team_id}", user_id), robust=True)


def _kicker(channel: str, user_id: int) -> Callable[[], None]:
    # A function, not a partial: Django's robust on_commit logs the callback's __qualname__,
    # which a partial lacks, so a failing partial escapes as AttributeError.
    def kick_user() -> None:
        kick(channel, user_id)

    return kick_user


def _team_ids(user: Any) -> list[int]:
    return list(user.teams.values_list("pk", flat=True))
