"""coucou.js against a scripted server: Playwright plays the socket and the REST API.

No Coucou process runs here: each test sends the frames a server could send (duplicates,
holes, resyncs, close codes) and checks what the client does with them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import wait_for

ORIGIN = "http://coucou.test"
COUCOU_JS = Path(__file__).resolve().parents[2] / "realtime" / "static" / "realtime" / "coucou.js"
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
</script></body></html>"""


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
        elif path == "/static/realtime/coucou.js":
            route.fulfill(body=COUCOU_JS.read_text(), content_type="text/javascript")
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
    server.open()
    for count in range(2, 5):
        server.sockets[-1].close(code=1011)
        server.wait_sockets(count)
    assert server.js("window.states") == ["reconnecting"]
    assert server.js("window.c.attempt") == 3
    server.send({"type": "hello", "seq": 0})
    wait_for(server.page, lambda: server.js("window.c.attempt") == 0, what="the backoff reset by hello")


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
