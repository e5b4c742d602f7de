"""Fakes for job bodies: a clock the test moves by hand and a JobContext that records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jobs.context import JobContext, _ticker


class FakeClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingContext(JobContext):
    """A real ``JobContext`` whose pushes and DB saves land in lists.

    ``events`` holds every ``(type, data)`` the context emitted and ``saves`` every
    ``(current, total, message)`` it wrote to the Job row. With ``background=False`` (the
    default with a fake clock) the process's ticker thread never touches it, so what a test
    sees depends only on the calls it makes.
    """

    def __init__(
        self,
        *,
        job_id: str = "00000000-0000-0000-0000-000000000001",
        owner_id: int = 1,
        task: str = "tests.job",
        attempt: int = 1,
        clock: Callable[[], float] | None = None,
        is_cancelled: Callable[[], bool] = lambda: False,
        max_hz: float = 10.0,
        db_interval: float = 1.0,
        background: bool | None = None,
    ) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.saves: list[tuple[float, float | None, str]] = []
        kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
        super().__init__(
            job_id=job_id,
            owner_id=owner_id,
            task=task,
            attempt=attempt,
            emit=lambda type, data: self.events.append((type, data)),
            save_progress=lambda current, total, message: self.saves.append((current, total, message)),
            is_cancelled=is_cancelled,
            max_hz=max_hz,
            db_interval=db_interval,
            **kwargs,
        )
        if background is False or (background is None and clock is not None):
            _ticker().forget(self)

    def pushed(self, type: str) -> list[dict[str, Any]]:
        """The data of every event of ``type``, in order."""
        return [data for kind, data in self.events if kind == type]
