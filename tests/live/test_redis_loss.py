"""Never silent when Redis forgets: a restart empty, a restart from an older snapshot.

Real Redis, daphne and a Celery worker. Redis keeps no append-only file here, as in a
container without a volume or an RDB-only deployment. After each loss every client must end
with a ``resync`` followed by every event published after Redis came back: the open socket
and the client that resumes from the seq it saw before the loss.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live.harness import Stack, frames_until, recv_json, running_stack

pytestmark = [pytest.mark.asyncio, pytest.mark.live]
JOBS_AFTER = 5


@pytest.fixture(scope="module")
def forgetful(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(
        Path(tmp_path_factory.mktemp("forgetful")), redis_appendonly=False, REALTIME_SWEEP_INTERVAL_S="0.5"
    ) as live:
        yield live


async def coucou_jobs(http: httpx.AsyncClient, n: int) -> list[str]:
    """Start ``n`` coucou jobs, retrying while the web process reconnects to the new Redis."""
    ids: list[str] = []
    for _ in range(n):
        for _attempt in range(100):
            response = await http.post("/api/coucou")
            if response.status_code == 202:
                ids.append(response.json()["id"])
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"POST /api/coucou kept failing: {response.status_code} {response.text}")
    return ids


async def until_all_ended(ws: Any, ids: list[str]) -> list[dict[str, Any]]:
    pending = set(ids)

    def done(frame: dict[str, Any]) -> bool:
        if frame.get("type") == "job.succeeded":
            pending.discard(frame["job"])
        return not pending

    return await frames_until(ws, done, timeout=60)


def assert_resync_then_every_event(frames: list[dict[str, Any]], old_epoch: str, ids: list[str]) -> None:
    """A ``resync`` naming a new epoch, then that epoch's events: contiguous, each job whole."""
    kinds = [f["type"] for f in frames]
    assert "resync" in kinds, f"no resync after the loss: {kinds}"
    at = kinds.index("resync")
    epoch = frames[at]["epoch"]
    assert epoch != old_epoch
    events = [f for f in frames[at + 1 :] if "ts" in f]
    assert {f["epoch"] for f in events} == {epoch}
    seqs = [f["seq"] for f in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"holes or duplicates: {seqs}"
    for job in ids:
        assert [f["type"] for f in events if f["job"] == job] == [
            "job.queued",
            "job.started",
            "coucou",
            "job.succeeded",
        ]
    # Nothing of the old epoch after the resync, and nothing of the new one before it.
    assert all(f.get("epoch") in (None, old_epoch) for f in frames[:at])


async def lose_and_check(stack: Stack, username: str, lose: Any) -> None:
    token = stack.token(username)
    async with stack.http(token) as http, stack.ws(token) as ws:
        hello = await recv_json(ws)
        before = await until_all_ended(ws, await coucou_jobs(http, 2))
        last, epoch = before[-1]["seq"], hello["epoch"]
        assert {f["epoch"] for f in before} == {epoch}
        # In this thread: Redis dies with the thread that started it (PR_SET_PDEATHSIG).
        lose(stack)
        ids = await coucou_jobs(http, JOBS_AFTER)
        open_socket = await until_all_ended(ws, ids)
    assert_resync_then_every_event(open_socket, epoch, ids)
    # A client that saw the same events, then dropped, resumes from its pre-loss (epoch, seq).
    async with stack.ws(token, after=last, epoch=epoch) as ws:
        assert (await recv_json(ws))["type"] == "hello"
        resumed = await until_all_ended(ws, ids)
    assert_resync_then_every_event(resumed, epoch, ids)
    # And the REST catch-up path says the same.
    async with stack.http(token) as http:
        page = (await http.get(f"/api/events?after={last}&epoch={epoch}&limit=1000")).json()
    assert page["resync"] is True and page["epoch"] != epoch
    assert [e["seq"] for e in page["events"]] == [f["seq"] for f in resumed if "ts" in f]


def restart_empty(stack: Stack) -> None:
    stack.redis.kill()  # SIGKILL
    shutil.rmtree(stack.redis.data_dir)
    stack.redis.start()


async def test_redis_restarted_empty(forgetful: Stack) -> None:
    await lose_and_check(forgetful, "amnesia", restart_empty)


async def test_redis_restarted_from_an_older_snapshot(forgetful: Stack) -> None:
    """SAVE, more events, SIGKILL, restart: the seq winds back by the events after the SAVE."""
    token = forgetful.token("rewind")
    async with forgetful.http(token) as http, forgetful.ws(token) as ws:
        hello = await recv_json(ws)
        await until_all_ended(ws, await coucou_jobs(http, 1))
        forgetful.redis_client().save()
        snapshot_seq = int(forgetful.redis_client().hget(_head(forgetful, "rewind"), "s"))
        later = await until_all_ended(ws, await coucou_jobs(http, 1))  # lost by the rewind
        last, epoch = later[-1]["seq"], hello["epoch"]
        assert last > snapshot_seq
        forgetful.redis.kill()
        forgetful.redis.start()
        assert int(forgetful.redis_client().hget(_head(forgetful, "rewind"), "s")) == snapshot_seq
        ids = await coucou_jobs(http, JOBS_AFTER)
        open_socket = await until_all_ended(ws, ids)
    assert_resync_then_every_event(open_socket, epoch, ids)
    # The new epoch reuses seqs the client saw: only the epoch tells them apart.
    reused = [f["seq"] for f in open_socket if "ts" in f and f["seq"] <= last]
    assert reused, "the test should make the new epoch reuse seqs of the lost events"
    async with forgetful.ws(token, after=last, epoch=epoch) as ws:
        assert (await recv_json(ws))["type"] == "hello"
        resumed = await until_all_ended(ws, ids)
    assert_resync_then_every_event(resumed, epoch, ids)


async def test_an_open_socket_hears_of_the_loss_with_no_new_event(forgetful: Stack) -> None:
    token = forgetful.token("quiet")
    async with forgetful.http(token) as http, forgetful.ws(token) as ws:
        hello = await recv_json(ws)
        await until_all_ended(ws, await coucou_jobs(http, 1))
        restart_empty(forgetful)
        # No event is published: the sweep alone must tell the socket.
        resync = await recv_json(ws, timeout=10)
    assert resync["type"] == "resync" and resync["epoch"] != hello["epoch"]


def _head(stack: Stack, username: str) -> str:
    from realtime.groups import head_key

    return head_key(stack.user_id(username))
