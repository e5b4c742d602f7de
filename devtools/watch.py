"""Print a user's events as they arrive: ``python -m devtools.watch [--after SEQ] [URL]``.

Reads the bearer token from ``$TOKEN``. A minimal non-browser client of ``/ws/events/``: it
remembers the epoch and the last seq it printed and resumes from them when the connection
drops; after a ``resync`` it follows the new epoch from the events that come next.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

import websockets


async def watch(url: str, token: str, after: int | None) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    epoch: str | None = None
    while True:
        target = url if after is None else f"{url}?after={after}"
        target += f"&epoch={epoch}" if after is not None and epoch is not None else ""
        try:
            async with websockets.connect(target, additional_headers=headers) as ws:
                async for raw in ws:
                    print(raw, flush=True)
                    frame = json.loads(raw)
                    kind = frame.get("type")
                    if "ts" in frame or (kind == "hello" and after is None):
                        after = frame["seq"]  # an event, or where a first connection starts
                    if "ts" in frame or kind in ("hello", "resync"):
                        epoch = frame.get("epoch", epoch)
        except websockets.ConnectionClosedError as exc:
            if exc.rcvd is not None and exc.rcvd.code == 4401:
                sys.exit("unauthenticated: is $TOKEN a valid token?")
        except OSError as exc:
            print(f"# {exc}; retrying", file=sys.stderr)
        await asyncio.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:8000/ws/events/")
    parser.add_argument("--after", type=int, default=None, help="replay the events after this seq first")
    args = parser.parse_args()
    token = os.environ.get("TOKEN")
    if not token:
        sys.exit("set TOKEN to a bearer token (python manage.py create_token USERNAME)")
    try:
        asyncio.run(watch(args.url, token, args.after))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
