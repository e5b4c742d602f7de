from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from jobs.retention import purge_finished, purgeable, retention_period

_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([wdhms]?)", re.IGNORECASE)


def parse_age(text: str) -> timedelta:
    """``30`` or ``30d`` (days), ``12h``, ``90m``, ``45s``, ``2w``, ``1.5d``."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an age: give days (30, 1.5) or a duration (30d, 12h, 90m)")
    number, unit = match.groups()
    return timedelta(**{_UNITS[unit.lower() or "d"]: float(number)})


class Command(BaseCommand):
    help = (
        "Delete finished jobs (succeeded, failed, cancelled) that finished longer ago than"
        " --older-than (default: JOBS_RETENTION_DAYS), in batches. Queued and running jobs are"
        " never deleted. The last line of output is the number of jobs purged."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            metavar="AGE",
            help="days (30, 1.5) or a duration (30d, 12h, 90m); default JOBS_RETENTION_DAYS",
        )
        parser.add_argument("--batch-size", type=int, default=1000, help="jobs deleted per transaction")
        parser.add_argument("--dry-run", action="store_true", help="only count the jobs it would purge")

    def handle(
        self, *args: Any, older_than: str | None, batch_size: int, dry_run: bool, **options: Any
    ) -> None:
        age = self._age(older_than)
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        verbosity = int(options["verbosity"])
        if dry_run:
            cutoff = timezone.now() - age
            count = purgeable(before=cutoff).count()
            self.stdout.write(f"{count} finished jobs would be purged (finished before {cutoff.isoformat()})")
            return

        def progress(deleted: int, total: int) -> None:
            if verbosity >= 1:
                self.stderr.write(f"purged {deleted} (total {total})")

        total = purge_finished(older_than=age, batch_size=batch_size, on_batch=progress)
        self.stdout.write(f"{total} finished jobs purged (finished more than {_describe(age)} ago)")

    def _age(self, older_than: str | None) -> timedelta:
        if older_than is None:
            period = retention_period()
            if period is None:
                raise CommandError("retention is off (JOBS_RETENTION_DAYS is 0 or empty): pass --older-than")
            return period
        try:
            age = parse_age(older_than)
            timezone.now() - age  # an age reaching past year 1 overflows here, not mid-purge
        except (ValueError, OverflowError) as exc:
            raise CommandError(f"--older-than: {exc}") from None
        return age


def _describe(age: timedelta) -> str:
    seconds = age.total_seconds()
    for unit, size in (("days", 86_400), ("hours", 3_600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} seconds"
