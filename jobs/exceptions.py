"""The job domain's exceptions; the API maps them to HTTP once (api/errors.py)."""

from __future__ import annotations

from typing import Any


class JobsError(Exception):
    """Base of every error the job domain raises on purpose."""


class UnknownTask(JobsError):
    """The named task is not a registered job."""


class InvalidParams(JobsError):
    """The params do not match the job's schema."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid params")
        self.errors = errors


class InvalidChannel(JobsError):
    """The channel is malformed, undeclared, or of a namespace that does not carry jobs."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class ChannelForbidden(JobsError):
    """The owner may not read the channel the job would be shared on."""


class JobNotFound(JobsError):
    """No such job, or not the caller's."""


class JobAlreadyFinished(JobsError):
    """The job ended before the request could act on it."""


class TooManyActiveJobs(JobsError):
    """The owner already has the most queued and running jobs allowed."""


class ParamsTooLarge(JobsError):
    """The params are larger than JOBS_MAX_PARAMS_BYTES."""


class EnqueueUnavailable(JobsError):
    """The broker cannot take the job now."""


class JobFailed(JobsError):
    """Raised by a job body to fail with a message meant for its user."""


class JobCancelled(JobsError):
    """Raised inside a job body once its job has been cancelled."""


class OutputTooLarge(JobsError):
    """A write would take a job's output stream past JOBS_OUTPUT_MAX_BYTES; nothing of it is kept."""


class OutputNotFound(JobsError):
    """No such output stream for the job (never opened, or past its retention)."""


class InvalidOutputOffset(JobsError):
    """The offset is past the output's end, or inside a UTF-8 character."""
