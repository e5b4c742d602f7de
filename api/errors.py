"""The one place where domain errors become HTTP answers, all as ``{"detail": ...}``."""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import ValidationError

from jobs.exceptions import (
    ChannelForbidden,
    EnqueueUnavailable,
    InvalidChannel,
    InvalidOutputOffset,
    InvalidParams,
    JobAlreadyFinished,
    JobNotFound,
    OutputNotFound,
    ParamsTooLarge,
    TooManyActiveJobs,
    UnknownTask,
)

logger = logging.getLogger(__name__)


def install(api: NinjaAPI) -> None:
    def detail(request: HttpRequest, status: int, body: object) -> HttpResponse:
        return api.create_response(request, {"detail": body}, status=status)

    @api.exception_handler(ValidationError)
    def invalid_request(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        # ninja names the body parameter in ``loc`` ("body", "payload", "task"): the client
        # never saw that name, so drop it and keep the path the client wrote.
        errors = []
        for error in exc.errors:
            loc = list(error.get("loc", ()))
            if len(loc) > 1 and loc[0] == "body" and loc[1] == "payload":
                del loc[1]
            errors.append({"loc": loc, "msg": error.get("msg", ""), "type": error.get("type", "")})
        return detail(request, 422, errors)

    @api.exception_handler(UnknownTask)
    def unknown_task(request: HttpRequest, exc: UnknownTask) -> HttpResponse:
        msg = f"unknown task {exc.args[0]!r}; GET /api/tasks lists the tasks you can start"
        return detail(request, 422, [{"loc": ["body", "task"], "msg": msg, "type": "unknown_task"}])

    @api.exception_handler(InvalidParams)
    def invalid_params(request: HttpRequest, exc: InvalidParams) -> HttpResponse:
        return detail(request, 422, exc.errors)

    @api.exception_handler(InvalidChannel)
    def invalid_channel(request: HttpRequest, exc: InvalidChannel) -> HttpResponse:
        return detail(request, 422, [{"loc": ["body", "channel"], "msg": exc.detail, "type": exc.code}])

    @api.exception_handler(ChannelForbidden)
    def channel_forbidden(request: HttpRequest, exc: ChannelForbidden) -> HttpResponse:
        return detail(request, 403, f"you may not read the channel {exc.args[0]!r}")

    @api.exception_handler(InvalidOutputOffset)
    def invalid_offset(request: HttpRequest, exc: InvalidOutputOffset) -> HttpResponse:
        return detail(request, 422, [{"loc": ["query", "offset"], "msg": str(exc), "type": "bad_offset"}])

    @api.exception_handler(JobNotFound)
    @api.exception_handler(OutputNotFound)
    @api.exception_handler(Http404)
    def not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
        return detail(request, 404, "Not found")

    @api.exception_handler(JobAlreadyFinished)
    def already_finished(request: HttpRequest, exc: JobAlreadyFinished) -> HttpResponse:
        return detail(request, 409, f"the job is already {exc.args[0]}")

    @api.exception_handler(TooManyActiveJobs)
    def too_many(request: HttpRequest, exc: TooManyActiveJobs) -> HttpResponse:
        response = detail(request, 429, f"{exc}; wait for one to finish")
        response["Retry-After"] = "5"
        return response

    @api.exception_handler(ParamsTooLarge)
    def params_too_large(request: HttpRequest, exc: ParamsTooLarge) -> HttpResponse:
        return detail(request, 413, str(exc))

    @api.exception_handler(RequestDataTooBig)
    def too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        return detail(request, 413, "request body too large")

    @api.exception_handler(EnqueueUnavailable)
    def unavailable(request: HttpRequest, exc: EnqueueUnavailable) -> HttpResponse:
        response = detail(request, 503, str(exc))
        response["Retry-After"] = "5"
        return response

    @api.exception_handler(Exception)
    def server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
        # Never a traceback in a response, DEBUG or not: it goes to the log.
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return detail(request, 500, "internal server error")
