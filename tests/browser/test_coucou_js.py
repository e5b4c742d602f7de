"""coucou.js in real Chromium, against a scripted server and against a live stack.

Most tests run no Coucou process: Playwright plays the socket and the REST API, sends the
frames a server could send (duplicates, holes, resyncs, close codes) and checks what the
client does with them. The channel tests at the end run against real daphne and Redis, with
the test namespaces of tests/browser/channels_app.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import wait_for
from tests.live.harness import Stack

ORIGIN = "http://coucou.test"
STATIC = Path(__file__).resolve().parents[2] / "realtime" / "static"
# Each channel the page follows logs what its subscription's listeners heard.
FOLLOW = """
window.subs = {};
window.follow = (channel, options) => {
  const sub = window.c.subscribe(channel, options);
  const log = [];
  const kinds = ["*", "subscribed", "resync", "error", "unsubscribed", "presence.join", "presence.leave"];
  for (const on of kinds) {
    sub.on(on, (f) => log.push({on, type: f.type, seq: f.seq ?? null, epoch: f.epoch ?? null,
      data: f.data ?? null, reason: f.reason ?? null, code: f.code ?? null}));
  }
  window.subs[channel] = {sub, log};
  return sub.state;
};
window.heard = (channel, on = "*") => window.subs[channel].log.filter((e) => e.on === on);
"""
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>t</title></head><body>
<coucou-progress id="bar" label="Progress of the test job"></coucou-progress>
<script type="module">
import coucou from "/static/realtime/coucou.js";
window.seen = []; window.states = []; window.settled = null;
const c = coucou.connect({minDelayMs: 40, maxDelayMs: 200, pingIntervalMs: 250, ...(window.OPTIONS ?? {})});
window.c = c;
c.on("*", (e) => window.seen.push(e.seq));
c.on("state", (s) => window.states.push(s));
window.watch = (id) => {
  const job = c.job(id);
  window.progress = []; window.jobStates = [];
  job.onProgress((p) => window.progress.push(p.percent));
  job.onState((j) => window.jobStates.push(j.status));
  job.done.then((j) => { window.settled = ["resolved", j.result]; },
                (e) => { window.settled = ["rejected", e.name, e.status, e.message]; });
  document.getElementById("bar").setAttribute("job", id);
};
/* FOLLOW */
</script></body></html>""".replace("/* FOLLOW */", FOLLOW)


class Server:
    """The fake Coucou: every socket the page opens, every frame it sends, REST answers."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.sockets: list[Any] = []
        self.received: list[dict[str, Any]] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.rest_calls: list[str] = []
        self.refuse_rest = 0  # the next N REST calls fail at the network level
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.route(f"{ORIGIN}/**", self._http)
        page.route_web_socket(re.compile(r"^ws://coucou\.test/ws/events/"), self._socket)

    def _http(self, route: Any) -> None:
        path = route.request.url.removeprefix(ORIGIN)
        if path == "/":
            route.fulfill(body=PAGE, content_type="text/html")
        elif path.startswith("/static/realtime/") and path.endswith(".js"):
            file = (STATIC / path.removeprefix("/static/")).resolve()
            assert file.is_relative_to(STATIC), path
            route.fulfill(body=file.read_text(), content_type="text/javascript")
        elif path.startswith("/api/jobs/"):
            self.rest_calls.append(path)
            if self.refuse_rest:
                self.refuse_rest -= 1
                route.abort("connectionrefused")
                return
            job = self.jobs.get(path.removeprefix("/api/jobs/"))
            route.fulfill(status=200 if job else 404, json=job or {"detail": "Not found"})
        else:
            route.fulfill(status=404, body="")

    def _socket(self, ws: Any) -> None:
        self.sockets.append(ws)
        ws.on_message(lambda message: self.received.append(json.loads(message)))

    def open(self, options: str = "{}") -> None:
        """Load the page; ``options`` is a JS expression for connect()'s extra options."""
        self.page.add_init_script(f"window.OPTIONS = {options}")
        self.page.goto(f"{ORIGIN}/")
        self.wait_sockets(1)

    def wait_sockets(self, count: int) -> Any:
        wait_for(self.page, lambda: len(self.sockets) >= count, what=f"socket #{count}")
        return self.sockets[count - 1]

    def send(self, *frames: dict[str, Any]) -> None:
        for frame in frames:
            self.sockets[-1].send(json.dumps(frame))

    def js(self, expression: str) -> Any:
        return self.page.evaluate(expression)


def event(seq: int, type: str = "coucou", job: str | None = None, **data: Any) -> dict[str, Any]:
    return {"seq": seq, "type": type, "job": job, "ts": "2026-11-21T10:00:00.000Z", "data": data}


def rest_job(status: str, percent: float | None = None, **fields: Any) -> dict[str, Any]:
    progress = {
        "current": percent,
        "total": 100 if percent is not None else None,
        "percent": percent,
        "message": "",
    }
    return {"id": "J", "task": "demo.count", "params": {"n": 100}, "status": status, "progress": progress,
            "result": None, "error": None, **fields}  # fmt: skip


@pytest.fixture
def server(browser: Any) -> Iterator[Server]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(5_000)
    yield Server(page)
    context.close()


def test_the_first_socket_starts_from_hello_and_a_new_one_resumes_after_the_last_seq(server: Server) -> None:
    server.open()
    assert server.sockets[0].url == "ws://coucou.test/ws/events/"
    server.send({"type": "hello", "seq": 5}, event(6), event(7))
    wait_for(server.page, lambda: server.js("window.seen") == [6, 7], what="events 6 and 7")
    server.sockets[0].close(code=4008, reason="slow reader")
    assert server.wait_sockets(2).url == "ws://coucou.test/ws/events/?after=7"
    server.send({"type": "hello", "seq": 9}, event(8), event(9))
    wait_for(server.page, lambda: server.js("window.seen") == [6, 7, 8, 9], what="the replay")
    assert server.js("window.states") == ["open", "reconnecting", "open"]


def test_duplicates_are_dropped_and_a_hole_asks_for_a_resume(server: Server) -> None:
    server.open()
    server.send({"type": "hello", "seq": 0}, event(1), event(2), event(2), event(1), event(5), event(6))
    wait_for(server.page, lambda: {"type": "resume", "after": 2} in server.received, what="a resume frame")
    assert server.received.count({"type": "resume", "after": 2}) == 1, "one resume per hole"
    server.send(event(3), event(4), event(5), event(6), event(7))
    wait_for(server.page, lambda: server.js("window.seen") == [1, 2, 3, 4, 5, 6, 7], what="the hole filled")


def test_a_job_handle_follows_progress_to_its_result_and_the_widget_shows_it(server: Server) -> None:
    server.jobs["J"] = rest_job("queued")
    server.open()
    server.send({"type": "hello", "seq": 0})
    server.js("window.watch('J')")
    wait_for(server.page, lambda: server.js("window.jobStates") == ["queued"], what="the REST state")
    server.send(
        event(1, "job.started", "J", attempt=1),
        event(2, "job.progress", "J", current=40, total=100, percent=40.0, message="counting"),
    )
    bar = server.page.locator("#bar")
    expect(bar.get_by_role("progressbar", name="Progress of the test job")).to_have_attribute("value", "40")
    expect(bar.locator(".coucou-progress-text")).to_have_text("40 % · counting")
    expect(bar.locator(".coucou-progress-text")).to_have_attribute("aria-live", "polite")
    server.send(
        event(3, "job.progress", "J", current=100, total=100, percent=100.0, message=""),
        event(4, "job.succeeded", "J", result={"counted": 100}),
    )
    expect(bar.locator(".coucou-progress-text")).to_have_text("100 % · done")
    assert server.js("window.settled") == ["resolved", {"counted": 100}]
    assert server.js("window.progress") == [40, 100]
    assert server.js("window.jobStates") == ["queued", "running", "succeeded"]


def test_a_failed_job_rejects_done_with_its_error(server: Server) -> None:
    server.jobs["J"] = rest_job("running", 10.0)
    server.open()
    server.send({"type": "hello", "seq": 0})
    server.js("window.watch('J')")
    wait_for(server.page, lambda: server.js("window.progress") == [10], what="the REST state")
    server.send(event(1, "job.failed", "J", error={"type": "JobFailed", "message": "no luck"}))
    wait_for(server.page, lambda: server.js("window.settled"), what="done to settle")
    assert server.js("window.settled") == ["rejected", "JobError", "failed", "no luck"]
    expect(server.page.locator("#bar .coucou-progress-text")).to_have_text("10 % · failed")


def test_a_job_that_is_not_yours_rejects_done(server: Server) -> None:
    server.open()
    server.send({"type": "hello", "seq": 0})
    server.js("window.watch('J')")
    wait_for(server.page, lambda: server.js("window.settled"), what="done to settle")
    assert server.js("window.settled") == ["rejected", "JobError", "missing", "no such job"]


def test_resync_refetches_the_watched_jobs_and_accepts_what_follows(server: Server) -> None:
    server.jobs["J"] = rest_job("running", 10.0)
    server.open()
    server.send({"type": "hello", "seq": 10})
    server.js("window.watch('J')")
    wait_for(server.page, lambda: server.js("window.progress") == [10], what="the first REST state")
    server.jobs["J"] = rest_job("succeeded", 100.0, result={"counted": 100})
    server.send({"type": "resync", "seq": 20, "after": 10}, event(15), event(16))
    wait_for(server.page, lambda: server.js("window.settled"), what="done after the resync")
    assert server.js("window.settled") == ["resolved", {"counted": 100}]
    assert server.rest_calls == ["/api/jobs/J", "/api/jobs/J"]
    wait_for(server.page, lambda: server.js("window.seen") == [15, 16], what="the events after the resync")
    assert {"type": "resume", "after": 10} not in server.received


def test_a_refresh_the_network_refused_is_tried_again_once_a_socket_opens(server: Server) -> None:
    # A web process restarting: the job's REST state cannot be read until it is back.
    server.jobs["J"] = rest_job("running", 40.0)
    server.refuse_rest = 1
    server.open()
    server.send({"type": "hello", "seq": 0})
    server.js("window.watch('J')")
    wait_for(server.page, lambda: server.rest_calls == ["/api/jobs/J"], what="the refused refresh")
    server.sockets[0].close(code=1011)
    server.wait_sockets(2)
    server.send({"type": "hello", "seq": 0})
    wait_for(server.page, lambda: server.js("window.progress") == [40], what="the refresh after reconnecting")
    assert server.rest_calls == ["/api/jobs/J", "/api/jobs/J"]
    assert server.errors == []  # a network failure is expected here, not an uncaught error


def test_a_server_that_lost_its_history_is_followed_from_its_new_numbers(server: Server) -> None:
    server.open()
    server.send({"type": "hello", "seq": 5}, event(6), event(7))
    wait_for(server.page, lambda: server.js("window.seen") == [6, 7], what="events 6 and 7")
    server.sockets[0].close(code=1011)
    assert server.wait_sockets(2).url.endswith("?after=7")
    server.send({"type": "hello", "seq": 2}, {"type": "resync", "seq": 2, "after": 7}, event(3))
    wait_for(server.page, lambda: server.js("window.seen") == [6, 7, 3], what="event 3 after the resync")
    assert {"type": "resume", "after": 7} not in server.received


def test_a_new_epoch_is_followed_from_its_own_numbers_and_resumed_within(server: Server) -> None:
    def at(seq: int, epoch: str) -> dict[str, Any]:
        return {**event(seq), "epoch": epoch}

    server.open()
    server.send({"type": "hello", "seq": 5, "epoch": "aaa"}, at(6, "aaa"), at(7, "aaa"))
    wait_for(server.page, lambda: server.js("window.seen") == [6, 7], what="events 6 and 7")
    server.sockets[0].close(code=1011)
    assert server.wait_sockets(2).url.endswith("?after=7&epoch=aaa")
    # Redis came back from an older snapshot: the new epoch numbers from 5 again.
    server.send(
        {"type": "hello", "seq": 8, "epoch": "bbb"},
        {"type": "resync", "seq": 8, "epoch": "bbb", "after": 7},
        at(6, "bbb"),
        at(7, "bbb"),
        at(8, "bbb"),
    )
    wait_for(server.page, lambda: server.js("window.seen") == [6, 7, 6, 7, 8], what="the new epoch")
    server.sockets[1].close(code=1011)
    assert server.wait_sockets(3).url.endswith("?after=8&epoch=bbb")


def test_4401_stops_reconnecting(server: Server) -> None:
    server.open()
    server.sockets[0].close(code=4401, reason="unauthenticated")
    wait_for(server.page, lambda: server.js("window.states") == ["unauthenticated"], what="unauthenticated")
    server.page.wait_for_timeout(400)
    assert len(server.sockets) == 1


def test_a_dropped_socket_is_retried_with_growing_delays(server: Server) -> None:
    # Attempt k waits between 50 * 2**k and 100 * 2**k ms: the fourth at least 400 ms.
    server.open("{minDelayMs: 100, maxDelayMs: 100000}")

    def drop_and_time(count: int) -> float:
        start = time.monotonic()
        server.sockets[-1].close(code=1011)
        server.wait_sockets(count)
        return time.monotonic() - start

    gaps = [drop_and_time(count) for count in range(2, 6)]
    assert server.js("window.states") == ["reconnecting"]
    assert gaps[3] >= 0.4 and gaps[3] > gaps[0], gaps
    server.send({"type": "hello", "seq": 0})
    wait_for(server.page, lambda: server.js("window.states") == ["reconnecting", "open"], what="open")
    assert drop_and_time(6) < 0.4, "the backoff is reset by hello"


def test_pings_are_sent_while_open(server: Server) -> None:
    server.open()
    server.send({"type": "hello", "seq": 0})
    wait_for(server.page, lambda: {"type": "ping"} in server.received, what="a ping")


def test_a_ticket_is_fetched_for_every_connection(server: Server) -> None:
    server.page.add_init_script("window.ticketsAsked = 0")
    server.open("{ticket: async () => `cwt_${++window.ticketsAsked}`}")
    assert server.sockets[0].url == "ws://coucou.test/ws/events/?ticket=cwt_1"
    server.send({"type": "hello", "seq": 3})
    wait_for(server.page, lambda: server.js("window.states") == ["open"], what="open")
    server.sockets[0].close(code=1011)
    assert server.wait_sockets(2).url == "ws://coucou.test/ws/events/?after=3&ticket=cwt_2"


def test_close_stops_for_good(server: Server) -> None:
    server.open()
    server.send({"type": "hello", "seq": 0})
    wait_for(server.page, lambda: server.js("window.states") == ["open"], what="open")
    server.js("window.c.close()")
    server.page.wait_for_timeout(300)
    assert server.js("window.states") == ["open", "closed"]
    assert len(server.sockets) == 1


# --- channels, against the scripted server ---------------------------------------------------
def on_channel(seq: int, channel: str = "pinboard:one", epoch: str = "aaa", **data: Any) -> dict[str, Any]:
    return {"seq": seq, "epoch": epoch, "channel": channel, "type": "note", "job": None,
            "ts": "2026-11-21T10:00:00.000Z", "data": data}  # fmt: skip


def subscribed(seq: int, channel: str = "pinboard:one", epoch: str = "aaa") -> dict[str, Any]:
    return {"type": "subscribed", "channel": channel, "seq": seq, "epoch": epoch}


def subscribes(server: Server, channel: str = "pinboard:one") -> list[dict[str, Any]]:
    return [f for f in server.received if f.get("type") == "subscribe" and f.get("channel") == channel]


def channel_frames(server: Server) -> list[dict[str, Any]]:
    return [f for f in server.received if "channel" in f]  # not pings


def resubscribe(after: int, epoch: str, channel: str = "pinboard:one") -> dict[str, Any]:
    return {"type": "subscribe", "channel": channel, "after": after, "epoch": epoch}


def heard_seqs(server: Server, channel: str = "pinboard:one") -> list[int]:
    return [e["seq"] for e in server.js(f"window.heard({channel!r})")]


def test_a_subscription_waits_for_hello_and_subscribes_again_after_every_reconnect(server: Server) -> None:
    server.open()
    assert server.js("window.follow('pinboard:one', {after: 0})") == "subscribing"
    server.page.wait_for_timeout(100)
    assert subscribes(server) == [], "nothing is sent before hello"
    server.send({"type": "hello", "seq": 0, "epoch": "u1"})
    wait_for(server.page, lambda: subscribes(server), what="the subscribe")
    assert subscribes(server) == [{"type": "subscribe", "channel": "pinboard:one", "after": 0}]
    server.send(subscribed(2), on_channel(1), on_channel(2), on_channel(2), on_channel(1), event(1))
    wait_for(server.page, lambda: heard_seqs(server) == [1, 2], what="the channel's replay")
    assert server.js("window.seen") == [1], "the user's stream is apart"
    assert server.js("window.subs['pinboard:one'].sub.state") == "subscribed"
    assert server.js("window.heard('pinboard:one', 'subscribed').length") == 1

    server.sockets[0].close(code=1011)
    server.wait_sockets(2)
    assert server.js("window.subs['pinboard:one'].sub.state") == "subscribing"
    server.send({"type": "hello", "seq": 1, "epoch": "u1"})
    wait_for(server.page, lambda: len(subscribes(server)) == 2, what="the subscribe again")
    assert subscribes(server)[1] == resubscribe(2, "aaa")
    server.send(subscribed(3), on_channel(2), on_channel(3))
    wait_for(server.page, lambda: heard_seqs(server) == [1, 2, 3], what="event 3, once")


def test_a_subscription_from_now_on_resumes_from_the_seq_it_was_told(server: Server) -> None:
    server.open()
    server.send({"type": "hello", "seq": 0})
    server.js("window.follow('pinboard:one')")
    wait_for(server.page, lambda: subscribes(server), what="the subscribe")
    assert subscribes(server) == [{"type": "subscribe", "channel": "pinboard:one"}]
    server.send(subscribed(40), on_channel(41))
    wait_for(server.page, lambda: heard_seqs(server) == [41], what="event 41")
    server.sockets[0].close(code=1011)
    server.wait_sockets(2)
    server.send({"type": "hello", "seq": 0})
    wait_for(server.page, lambda: len(subscribes(server)) == 2, what="the subscribe again")
    assert subscribes(server)[1]["after"] == 41


def test_a_hole_in_a_channel_subscribes_again_from_its_last_seq(server: Server) -> None:
    server.open()
    server.send({"type": "hello", "seq": 0})
    server.js("window.follow('pinboard:one', {after: 0})")
    wait_for(server.page, lambda: subscribes(server), what="the subscribe")
    server.send(subscribed(1), on_channel(1), on_channel(3), on_channel(4))
    wait_for(server.page, lambda: len(subscribes(server)) == 2, what="a subscribe from seq 1")
    assert subscribes(server)[1] == resubscribe(1, "aaa")
    server.page.wait_for_timeout(100)
    assert len(subscribes(server)) == 2, "one subscribe per hole"
    server.send(subscribed(4), on_channel(2), on_channel(3), on_channel(4))
    wait_for(server.page, lambda: heard_seqs(server) == [1, 2, 3, 4], what="the hole filled")
    assert {"type": "resume", "after": 0} not in server.received, "the user's stream has no hole"


def test_a_channel_resync_is_heard_and_its_new_epoch_followed(server: Server) -> None:
    server.open()
    server.send({"type": "hello", "seq": 0})
    server.js("window.follow('pinboard:one', {after: 5, epoch: 'aaa'})")
    wait_for(server.page, lambda: subscribes(server), what="the subscribe")
    assert subscribes(server)[0] == resubscribe(5, "aaa")
    server.send(
        subscribed(2, epoch="bbb"),
        {"type": "resync", "channel": "pinboard:one", "seq": 2, "epoch": "bbb", "after": 5},
        on_channel(1, epoch="bbb"),
        on_channel(2, epoch="bbb"),
    )
    wait_for(server.page, lambda: heard_seqs(server) == [1, 2], what="the new epoch's events")
    resyncs = server.js("window.heard('pinboard:one', 'resync')")
    assert [(e["seq"], e["epoch"]) for e in resyncs] == [(2, "bbb")]
    assert server.js("window.seen") == [] and server.rest_calls == [], "the user's stream did not resync"
    server.sockets[0].close(code=1011)
    server.wait_sockets(2)
    server.send({"type": "hello", "seq": 0})
    wait_for(server.page, lambda: len(subscribes(server)) == 2, what="the subscribe again")
    assert subscribes(server)[1] == resubscribe(2, "bbb")


def test_a_kick_or_a_refusal_ends_a_subscription_and_unavailable_is_retried(server: Server) -> None:
    server.open("{pingIntervalMs: 60000}")  # the retry waits 0.5 to 1 s: no pong is not a drop here
    server.send({"type": "hello", "seq": 0})
    for channel in ("pinboard:kicked", "pinboard:refused", "pinboard:busy"):
        server.js(f"window.follow({channel!r}, {{after: 0}})")
    wait_for(server.page, lambda: len(channel_frames(server)) == 3, what="three subscribes")
    server.send(
        subscribed(0, "pinboard:kicked"),
        {"type": "unsubscribed", "channel": "pinboard:kicked", "reason": "kicked"},
        {"type": "error", "code": "forbidden", "channel": "pinboard:refused", "detail": "no"},
        {"type": "error", "code": "unavailable", "channel": "pinboard:busy", "detail": "try again"},
    )
    wait_for(server.page, lambda: len(subscribes(server, "pinboard:busy")) == 2, what="a retry")
    kicked = server.js("window.heard('pinboard:kicked', 'unsubscribed')")
    assert [(e["type"], e["reason"]) for e in kicked] == [("unsubscribed", "kicked")]
    refused = server.js("window.subs['pinboard:refused'].log")
    assert [(e["on"], e["code"], e["reason"]) for e in refused] == [
        ("error", "forbidden", None),
        ("unsubscribed", None, "forbidden"),
    ]
    states = "['kicked', 'refused', 'busy'].map((n) => window.subs[`pinboard:${n}`].sub.state)"
    assert server.js(states) == ["closed", "closed", "subscribing"]
    server.sockets[0].close(code=1011)
    server.wait_sockets(2)
    server.send({"type": "hello", "seq": 0})
    wait_for(server.page, lambda: len(subscribes(server, "pinboard:busy")) == 3, what="busy subscribed again")
    server.page.wait_for_timeout(100)
    assert len(subscribes(server, "pinboard:kicked")) == len(subscribes(server, "pinboard:refused")) == 1


def test_close_unsubscribes_and_its_answer_is_not_for_the_next_subscription(server: Server) -> None:
    server.open()
    server.send({"type": "hello", "seq": 0})
    server.js("window.follow('pinboard:one', {after: 0})")
    server.send(subscribed(0))
    state = "window.subs['pinboard:one'].sub.state"
    wait_for(server.page, lambda: server.js(state) == "subscribed", what="subscribed")
    server.js("window.subs['pinboard:one'].sub.close(); window.follow('pinboard:one', {after: 0})")
    wait_for(server.page, lambda: len(channel_frames(server)) == 3, what="unsubscribe and subscribe")
    assert [f["type"] for f in channel_frames(server)] == ["subscribe", "unsubscribe", "subscribe"]
    server.send({"type": "unsubscribed", "channel": "pinboard:one"}, subscribed(1), on_channel(1))
    wait_for(server.page, lambda: heard_seqs(server) == [1], what="the new subscription's event")
    assert server.js("window.subs['pinboard:one'].sub.state") == "subscribed"
    assert server.js("window.heard('pinboard:one', 'unsubscribed')") == []


def test_an_anonymous_socket_has_no_jobs_and_reads_channels(server: Server) -> None:
    server.open()
    server.send({"type": "hello", "seq": None, "epoch": None})
    wait_for(server.page, lambda: server.js("window.c.anonymous") is True, what="anonymous")
    server.js("window.watch('J')")
    wait_for(server.page, lambda: server.js("window.settled"), what="done to settle")
    assert server.js("window.settled")[:3] == ["rejected", "JobError", "unauthenticated"]
    server.js("window.follow('noticeboard:news', {after: 0})")
    server.send(subscribed(1, "noticeboard:news"), on_channel(1, "noticeboard:news"))
    wait_for(server.page, lambda: heard_seqs(server, "noticeboard:news") == [1], what="a public event")
    server.sockets[0].close(code=1011)
    assert server.wait_sockets(2).url == "ws://coucou.test/ws/events/", "no user stream to resume"


# --- channels, against a live stack -----------------------------------------------------------
# Run in a page the live daphne served: Chromium lets only a page from a local address open a
# socket to one (Local Network Access), so the script is added to Django's own 404 page.
LIVE_SCRIPT = (
    """
import {connect} from "/static/realtime/coucou.js";
const auth = window.TOKEN ? {Authorization: `Bearer ${window.TOKEN}`} : null;
const options = {minDelayMs: 50, maxDelayMs: 300};
if (auth) {
  // A ticket per connection, from the API with the user's bearer token; REST with it too.
  options.ticket = async () => {
    const response = await fetch("/api/realtime/ticket", {method: "POST", headers: auth});
    return (await response.json()).ticket;
  };
  options.fetch = (path) => fetch(path, {headers: {Accept: "application/json", ...auth}});
}
window.c = connect(options);
window.states = [];
window.c.on("state", (s) => window.states.push(s));
"""
    + FOLLOW
)


class Relay:
    """The page's sockets, relayed to the live daphne through Playwright.

    A test can drop them and refuse new ones until it restores the link (a network drop), and
    reads the frames the page sent.
    """

    def __init__(self, page: Any) -> None:
        self.up = True
        self.sent: list[dict[str, Any]] = []
        self.links: list[tuple[Any, Any]] = []
        page.route_web_socket(re.compile(r"/ws/events/"), self._route)

    def _route(self, ws: Any) -> None:
        if not self.up:
            ws.close(code=1011)
            return
        server = ws.connect_to_server()

        def forward(message: str | bytes) -> None:
            self.sent.append(json.loads(message))
            server.send(message)

        ws.on_message(forward)
        self.links.append((ws, server))

    def drop(self) -> None:
        self.up = False
        for ws, server in self.links:
            server.close()
            ws.close(code=1011)
        self.links.clear()
        self.sent.append({"type": "(dropped)"})

    def restore(self) -> None:
        self.up = True

    def subscribes_since_drop(self, channel: str) -> list[dict[str, Any]]:
        last_drop = max(i for i, f in enumerate(self.sent) if f["type"] == "(dropped)")
        return [f for f in self.sent[last_drop:] if f["type"] == "subscribe" and f["channel"] == channel]


@pytest.fixture(scope="module")
def live(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(
        Path(tmp_path_factory.mktemp("coucou-js-channels")),
        DJANGO_SETTINGS_MODULE="tests.browser.channels_settings",
        REALTIME_SWEEP_INTERVAL_S="0.5",
    )
    try:
        stack.start_web()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def tokens(live: Stack) -> dict[str, str]:
    return {name: live.token(name) for name in ("kim", "lee")}


class LivePage:
    def __init__(self, page: Any, relay: Relay) -> None:
        self.page, self.relay = page, relay

    def js(self, expression: str) -> Any:
        return self.page.evaluate(expression)

    def follow(self, channel: str, options: str = "{}") -> None:
        self.js(f"window.follow({channel!r}, {options})")
        state = f"window.subs[{channel!r}].sub.state"
        wait_for(self.page, lambda: self.js(state) != "subscribing", what=f"{channel} subscribed")

    def heard(self, channel: str, on: str = "*") -> list[dict[str, Any]]:
        return self.js(f"window.heard({channel!r}, {on!r})")

    def wait_open(self) -> None:
        wait_for(self.page, lambda: self.js("window.states?.at(-1)") == "open", what="the socket open")


@pytest.fixture
def live_page(browser: Any, live: Stack) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_page(token: str | None = None) -> LivePage:
        context = browser.new_context(base_url=live.base_url)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.js_errors = errors
        page.add_init_script(f"window.TOKEN = {json.dumps(token)}")
        relay = Relay(page)
        assert page.goto("/coucou-test/").status == 404
        page.add_script_tag(content=LIVE_SCRIPT, type="module")
        opened = LivePage(page, relay)
        opened.wait_open()
        return opened

    yield open_page
    for context in contexts:
        assert all(page.js_errors == [] for page in context.pages)
        context.close()


def publish(stack: Stack, channel: str, numbers: range) -> None:
    """Events ``note`` {n} on ``channel`` from another process, as app code would send them."""
    code = "from realtime import publish_to\n"
    code += f"for n in {numbers!r}: publish_to({channel!r}, 'note', {{'n': n}})\n"
    stack.manage("shell", "-v", "0", "-c", code)


def notes(page: LivePage, channel: str) -> list[tuple[int, int]]:
    return [(e["seq"], e["data"]["n"]) for e in page.heard(channel)]


def test_live_a_subscription_hears_the_channel_and_who_is_there(
    live: Stack, tokens: dict[str, str], live_page: Any
) -> None:
    kim = live_page(tokens["kim"])
    assert kim.js("window.c.anonymous") is False
    kim.follow("pinboard:live")
    assert [e["type"] for e in kim.heard("pinboard:live", "subscribed")] == ["subscribed"]
    publish(live, "pinboard:live", range(1, 4))
    wait_for(kim.page, lambda: notes(kim, "pinboard:live") == [(1, 1), (2, 2), (3, 3)], what="3 events")
    assert kim.js("window.subs['pinboard:live'].sub.presence()") == [
        {"id": live.user_id("kim"), "username": "kim"}
    ]
    lee = live_page(tokens["lee"])
    lee.follow("pinboard:live")
    joined = lambda: [e["data"]["user"]["username"] for e in kim.heard("pinboard:live", "presence.join")]  # noqa: E731
    wait_for(kim.page, lambda: "lee" in joined(), what="lee's join")
    assert notes(lee, "pinboard:live") == [], "from now on: no replay"


def test_live_an_anonymous_reader_resumes_a_public_channel_after_the_socket_drops(
    live: Stack, live_page: Any
) -> None:
    reader = live_page()
    assert reader.js("window.c.anonymous") is True
    reader.follow("noticeboard:resume", "{after: 0}")
    publish(live, "noticeboard:resume", range(1, 3))
    wait_for(reader.page, lambda: len(notes(reader, "noticeboard:resume")) == 2, what="2 events")
    epoch = reader.js("window.subs['noticeboard:resume'].sub.epoch")

    reader.relay.drop()
    wait_for(reader.page, lambda: reader.js("window.states.at(-1)") == "reconnecting", what="the drop")
    publish(live, "noticeboard:resume", range(3, 8))  # while it is away
    reader.page.wait_for_timeout(300)
    assert len(notes(reader, "noticeboard:resume")) == 2
    reader.relay.restore()
    reader.wait_open()
    publish(live, "noticeboard:resume", range(8, 9))
    every = [(n, n) for n in range(1, 9)]
    wait_for(reader.page, lambda: notes(reader, "noticeboard:resume") == every, what="every event once")
    assert reader.relay.subscribes_since_drop("noticeboard:resume") == [
        {"type": "subscribe", "channel": "noticeboard:resume", "after": 2, "epoch": epoch}
    ]
    reader.page.wait_for_timeout(300)
    assert notes(reader, "noticeboard:resume") == every
    assert reader.heard("noticeboard:resume", "resync") == []


def test_live_an_anonymous_reader_is_refused_a_private_channel(live_page: Any) -> None:
    reader = live_page()
    reader.follow("pinboard:private", "{after: 0}")
    heard = reader.js("window.subs['pinboard:private'].log")
    assert [(e["on"], e["code"], e["reason"]) for e in heard] == [
        ("error", "forbidden", None),
        ("unsubscribed", None, "forbidden"),
    ]
    assert reader.js("window.subs['pinboard:private'].sub.state") == "closed"


def test_live_a_channel_that_lost_its_history_resyncs_into_a_new_epoch(
    live: Stack, tokens: dict[str, str], live_page: Any
) -> None:
    kim = live_page(tokens["kim"])
    kim.follow("pinboard:lost", "{after: 0}")
    publish(live, "pinboard:lost", range(1, 3))
    wait_for(kim.page, lambda: notes(kim, "pinboard:lost") == [(1, 1), (2, 2)], what="2 events")
    before = kim.js("window.subs['pinboard:lost'].sub.epoch")

    live.redis_client().delete("coucou:{c:pinboard:lost}:head", "coucou:{c:pinboard:lost}:events")
    publish(live, "pinboard:lost", range(3, 5))
    wait_for(kim.page, lambda: len(notes(kim, "pinboard:lost")) == 4, what="the new epoch's events")
    [resync] = kim.heard("pinboard:lost", "resync")
    assert resync["epoch"] != before
    assert notes(kim, "pinboard:lost") == [(1, 1), (2, 2), (1, 3), (2, 4)]
    assert [e["epoch"] for e in kim.heard("pinboard:lost")] == [
        before,
        before,
        resync["epoch"],
        resync["epoch"],
    ]
    assert kim.js("window.subs['pinboard:lost'].sub.epoch") == resync["epoch"]

    kim.relay.drop()
    kim.relay.restore()
    kim.wait_open()
    wait_for(kim.page, lambda: kim.relay.subscribes_since_drop("pinboard:lost"), what="the subscribe again")
    assert kim.relay.subscribes_since_drop("pinboard:lost") == [
        {"type": "subscribe", "channel": "pinboard:lost", "after": 2, "epoch": resync["epoch"]}
    ]


def test_live_a_kick_ends_the_subscription(live: Stack, tokens: dict[str, str], live_page: Any) -> None:
    kim = live_page(tokens["kim"])
    kim.follow("pinboard:kick")
    kim.follow("pinboard:stay")
    code = f"from realtime import kick\nkick('pinboard:kick', {live.user_id('kim')})\n"
    live.manage("shell", "-v", "0", "-c", code)
    wait_for(kim.page, lambda: kim.heard("pinboard:kick", "unsubscribed"), what="the kick")
    assert [e["reason"] for e in kim.heard("pinboard:kick", "unsubscribed")] == ["kicked"]
    assert kim.js("window.subs['pinboard:kick'].sub.state") == "closed"
    assert kim.js("window.subs['pinboard:stay'].sub.state") == "subscribed"

    kim.relay.drop()
    kim.relay.restore()
    kim.wait_open()
    wait_for(kim.page, lambda: kim.relay.subscribes_since_drop("pinboard:stay"), what="stay subscribed again")
    publish(live, "pinboard:kick", range(1, 2))
    publish(live, "pinboard:stay", range(1, 2))
    wait_for(kim.page, lambda: notes(kim, "pinboard:stay") == [(1, 1)], what="stay's event")
    assert kim.relay.subscribes_since_drop("pinboard:kick") == []
    assert kim.heard("pinboard:kick") == []
