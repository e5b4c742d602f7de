"""Another site, on another origin, that shows a Coucou user's events through a ticket.

It plays both halves of a cross-origin integration: its backend asks Coucou for a ticket
server-to-server with a bearer token (``POST /ticket`` here), and its page, which hosts its
own copy of coucou.js, connects to Coucou's socket with that ticket. No CORS is involved.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

CLIENT = Path(__file__).resolve().parents[2] / "realtime" / "static" / "realtime"
COUCOU_JS = CLIENT / "coucou.js"  # and the modules it imports, in coucou/ beside it

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Another site</title><link rel="icon" href="data:,"></head>
<body>
<h1>Another site</h1>
<p id="state" role="status">connecting</p>
<ul id="events"></ul>
<script type="module">
import {connect} from "/coucou.js";
const url = new URLSearchParams(location.search).get("coucou");
const c = connect({
  url,
  ticket: async () => (await (await fetch("/ticket", {method: "POST"})).json()).ticket,
  minDelayMs: 100,
});
window.coucou = c;
c.on("state", (state) => { document.getElementById("state").textContent = state; });
c.on("*", (event) => {
  const item = document.createElement("li");
  item.textContent = `${event.seq} ${event.type} ${event.data.message ?? ""}`.trim();
  document.getElementById("events").append(item);
});
</script>
</body></html>
"""


class ForeignSite:
    def __init__(self) -> None:
        self.coucou: Any = None  # the Stack, set once it runs
        self.token: str | None = None  # the bearer token this site's backend holds
        self.tickets_issued = 0
        self.server = ThreadingHTTPServer(("127.0.0.2", 0), self._handler())
        self.origin = f"http://127.0.0.2:{self.server.server_address[1]}"

    def start(self) -> ForeignSite:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def page_url(self) -> str:
        return f"{self.origin}/?coucou=ws://127.0.0.1:{self.coucou.port}/ws/events/"

    def _ticket(self) -> bytes:
        response = httpx.post(
            f"{self.coucou.base_url}/api/realtime/ticket", headers={"Authorization": f"Bearer {self.token}"}
        )
        response.raise_for_status()
        self.tickets_issued += 1
        return json.dumps({"ticket": response.json()["ticket"]}).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/?") or self.path == "/":
                    self._reply(PAGE.encode(), "text/html; charset=utf-8")
                elif self.path == "/coucou.js":
                    self._reply(COUCOU_JS.read_bytes(), "text/javascript; charset=utf-8")
                elif (CLIENT / self.path.lstrip("/")).parent == CLIENT / "coucou":
                    module = CLIENT / self.path.lstrip("/")
                    if module.is_file():
                        self._reply(module.read_bytes(), "text/javascript; charset=utf-8")
                    else:
                        self.send_error(404)
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                if self.path == "/ticket":
                    self._reply(site._ticket(), "application/json")
                else:
                    self.send_error(404)

            def _reply(self, body: bytes, content_type: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
