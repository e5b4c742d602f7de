"""Single-use socket tickets: issued for a user, redeemed once, gone after 60 s."""

from __future__ import annotations

import asyncio

import pytest

from realtime import tickets
from realtime.groups import ticket_key

pytestmark = pytest.mark.usefixtures("redis_db")


@pytest.mark.asyncio
async def test_a_ticket_is_redeemed_once_for_its_user():
    ticket = await asyncio.to_thread(tickets.issue, 42)
    assert await tickets.aredeem(ticket) == 42
    assert await tickets.aredeem(ticket) is None


@pytest.mark.asyncio
async def test_two_sockets_racing_with_one_ticket_get_one_user_between_them():
    ticket = await asyncio.to_thread(tickets.issue, 7)
    results = await asyncio.gather(*(tickets.aredeem(ticket) for _ in range(10)))
    assert sorted(results, key=lambda r: r is None) == [7] + [None] * 9


def test_redis_holds_the_tickets_hash_with_a_60_second_expiry_never_the_ticket(redis_db):
    ticket = tickets.issue(42)
    [key] = redis_db.keys("*")
    assert ticket.encode() not in key
    assert key.decode() == ticket_key(tickets._digest(ticket))
    assert redis_db.get(key) == b"42"
    assert 55 <= redis_db.ttl(key) <= 60


@pytest.mark.asyncio
async def test_an_expired_ticket_is_refused(redis_db):
    ticket = await asyncio.to_thread(tickets.issue, 42)
    redis_db.pexpire(ticket_key(tickets._digest(ticket)), 1)
    await asyncio.sleep(0.05)
    assert await tickets.aredeem(ticket) is None


@pytest.mark.asyncio
@pytest.mark.parametrize("ticket", ["", "cwt_unknown", "not-a-ticket", "cwt_" + "x" * 200])
async def test_unknown_or_malformed_tickets_are_refused(ticket):
    assert await tickets.aredeem(ticket) is None


def test_tickets_are_random_and_distinct():
    issued = {tickets.issue(1) for _ in range(50)}
    assert len(issued) == 50
    assert all(t.startswith("cwt_") and len(t) >= 40 for t in issued)
