"""daphne on uvloop: ``python -m bench.serve <daphne arguments>``.

daphne installs Twisted's asyncio reactor on ``asyncio.new_event_loop()`` when
``daphne.server`` is first imported, so the event-loop policy must be set before that. The
benchmark uses this launcher only to measure uvloop against the default loop.
"""

from __future__ import annotations

import asyncio
import sys

import uvloop


def main() -> None:
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from daphne.cli import CommandLineInterface

    sys.argv[0] = "daphne"
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
