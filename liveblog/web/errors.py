"""Errors as the API shows them: ``{"error": {"code", "message"}}`` with a fitting status.

Bad input is a 4xx and changes nothing; a broken store is a 503 with ``Retry-After``;
anything else is a 500 that says nothing of the code (the trace goes to the log only).
"""

from __future__ import annotations

import logging
import re

from eventsourcing.persistence import PersistenceError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from liveblog.deadline import DeadlinePassed
from liveblog.domain import (
    DomainError,
    InvalidField,
    NotAuthor,
    NothingChanged,
    NotRetracted,
    RevisionConflict,
    StoryClosed,
    UpdateNotFound,
    UpdateRetracted,
)
from liveblog.draft import DraftFinished, NotScheduled
from liveblog.drafts import DraftNotFound
from liveblog.newsroom import SlugTaken, StoryBusy, StoryNotFound
from projections.story_reads import StoryMissing
from projections.wire import dumps

log = logging.getLogger("liveblog.web")

RETRY_AFTER_SECONDS = "2"


class ApiError(Exception):
    """Raised by handlers to answer with an error body."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    body = dumps({"error": {"code": code, "message": message}})
    return Response(body, status_code=status, headers=headers, media_type="application/json")


_DOMAIN_STATUS: list[tuple[type[DomainError], int]] = [
    (InvalidField, 422),
    (StoryNotFound, 404),
    (UpdateNotFound, 404),
    (NotAuthor, 403),
    (StoryClosed, 409),
    (UpdateRetracted, 409),
    (RevisionConflict, 409),
    (SlugTaken, 409),
    (NothingChanged, 409),
    (NotRetracted, 409),
    (DraftNotFound, 404),
    (DraftFinished, 409),
    (NotScheduled, 409),
    (StoryBusy, 503),
]


def domain_error_to_api(error: DomainError) -> ApiError:
    for error_type, status in _DOMAIN_STATUS:
        if isinstance(error, error_type):
            headers = {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else None
            return ApiError(status, error.code, str(error), headers)
    return ApiError(422, error.code, str(error))


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


async def handle_api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def handle_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    if isinstance(exc, StoryNotFound):
        return story_not_found(request, exc)
    api = domain_error_to_api(exc)
    return error_response(api.status, api.code, api.message, api.headers)


async def handle_story_missing(request: Request, exc: Exception) -> Response:
    """A read of the store found no such story: 404, as ``StoryNotFound`` answers."""
    return story_not_found(request, exc)


def story_not_found(request: Request, exc: Exception) -> Response:
    """404 naming the story as the client named it (its slug, say), not by the id the
    server derived from it: the message's story id becomes what the path holds."""
    ref = request.path_params.get("story")
    named = repr(ref)
    message = str(exc) if ref is None else _STORY_ID.sub(lambda _: named, str(exc), count=1)
    return error_response(404, "not_found", message)


_STORY_ID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


async def handle_http_exception(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code
    return error_response(exc.status_code, code, message, dict(exc.headers or {}))


async def handle_store_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc)
    return error_response(
        503,
        "store_unavailable",
        "the event store is unavailable; try again shortly",
        {"Retry-After": RETRY_AFTER_SECONDS},
    )


async def handle_client_disconnect(request: Request, _: Exception) -> Response:
    """The client went away while sending its body: an everyday event on phone networks,
    not a fault of ours. One line in the log, no traceback, and nothing changed (bodies
    are read whole before any command runs). The answer cannot reach anyone; 499 is what
    nginx logs for it, should a server send it anyway."""
    log.warning(
        "client went away before sending its whole body: %s %s",
        request.method, request.url.path,
    )  # fmt: skip
    return error_response(499, "client_closed_request", "the request body was cut short")


async def handle_deadline_passed(request: Request, exc: Exception) -> Response:
    log.warning("store deadline passed on %s %s: %s", request.method, request.url.path, exc)
    return error_response(
        503, "store_timeout", f"{exc}; try again shortly", {"Retry-After": RETRY_AFTER_SECONDS}
    )


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", "something went wrong on our side")


EXCEPTION_HANDLERS = {
    ApiError: handle_api_error,
    DomainError: handle_domain_error,
    StoryMissing: handle_story_missing,
    HTTPException: handle_http_exception,
    DeadlinePassed: handle_deadline_passed,
    PersistenceError: handle_store_unavailable,
    ClientDisconnect: handle_client_disconnect,
    Exception: handle_unexpected,
}
