"""Child processes that die with their parent and stop as a group."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    # Linux: the child gets SIGTERM if its parent dies, so a killed supervisor leaves nothing.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class Proc:
    """One child in its own process group, so that stopping it stops what it forked."""

    def __init__(
        self, name: str, argv: Sequence[str], *, env: dict[str, str], cwd: Path, log: Path | None = None
    ):
        self.name = name
        self.argv = list(argv)
        self.env = env
        self.cwd = cwd
        self.log = log
        self.popen: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    def start(self, **popen: Any) -> Proc:
        if self.log is not None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = open(self.log, "ab")  # noqa: SIM115 - closed in stop()
            popen.setdefault("stdout", self._log_file)
            popen.setdefault("stderr", subprocess.STDOUT)
        self.popen = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
            **popen,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen is None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait()
        # Reap anything the child left in its group (e.g. Celery pool children).
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait()


def python_argv(*args: str) -> list[str]:
    return [sys.executable, *args]
