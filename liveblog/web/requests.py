"""What every handler of the JSON API needs: the app's parts, the story asked for, replies.

Commands and reads are synchronous (the eventsourcing library), so they run in worker
threads (``web/threads.py``); the event loop only parses and writes bytes.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response

from liveblog.feed import Feed
from liveblog.newsroom import Newsroom
from liveblog.web.errors import ApiError
from liveblog.web.inputs import query_int
from liveblog.web.threads import in_thread
from projections.story import StoryView
from projections.story_reads import StoryReads
from projections.views import ReadViews
from projections.wire import dumps

# How long ``?min_version`` (and a write's answer) waits for the views before giving up.
MIN_VERSION_WAIT = 2.0


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        dumps(payload), status_code=status, headers=headers, media_type="application/json"
    )


def raw_json_response(
    body: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def views_of(request: Request) -> ReadViews:
    views: ReadViews = request.app.state.views
    return views


def newsroom_of(request: Request) -> Newsroom:
    newsroom: Newsroom = request.app.state.newsroom
    return newsroom


def reads_of(request: Request) -> StoryReads:
    reads: StoryReads = request.app.state.reads
    return reads


def feed_of(request: Request) -> Feed:
    feed: Feed = request.app.state.feed
    return feed


def no_such_update(request: Request) -> ApiError:
    """The 404 for an update the story does not have, naming the id the client sent."""
    return ApiError(404, "not_found", f"no update {request.path_params['update']!r} in this story")


async def missing_update(request: Request, story_id: UUID) -> ApiError:
    """The 404 for an update a read did not find: no such story, or no such update in it."""
    if await in_thread(views_of(request).story_head, story_id) is None:
        return ApiError(404, "not_found", f"no story {request.path_params['story']!r}")
    return no_such_update(request)


def story_id_of(request: Request) -> UUID:
    return newsroom_of(request).resolve_story_id(request.path_params["story"])


async def story_view(request: Request, story_id: UUID, upto: int | None = None) -> StoryView:
    """The story folded from its events (blocking work, in a worker thread)."""
    return await in_thread(reads_of(request).story, story_id, upto=upto)


async def wait_for_min_version(request: Request, story_id: UUID) -> int:
    """``?min_version=N``: answer only once the views hold version N (read your writes).

    Waits on the feed's signal, never on a sleep loop, for up to MIN_VERSION_WAIT seconds,
    and only for a version the log holds: a client learns N from a write's answer, after
    the commit, so a version the log lacks (or a story it lacks) is one the client made
    up, and waiting would not bring it. That is a 404 at once, as for ``at_version``.
    """
    wanted = query_int(request, "min_version", default=None, minimum=1, maximum=2**62)
    if wanted is None:
        return 0
    head = await in_thread(views_of(request).story_head, story_id)
    if head is not None and head.version >= wanted:
        return wanted
    newsroom = newsroom_of(request)
    if not await in_thread(newsroom.story_events, story_id, after=wanted - 1, limit=1):
        if head is None and not await in_thread(newsroom.story_events, story_id, limit=1):
            raise ApiError(404, "not_found", f"no story {request.path_params['story']!r}")
        raise ApiError(404, "not_found", f"the story has no version {wanted} yet")
    if not await feed_of(request).signal.wait_for(story_id, wanted, MIN_VERSION_WAIT):
        raise ApiError(
            503, "not_yet", f"version {wanted} is not readable yet; try again",
            {"Retry-After": "1"},
        )  # fmt: skip
    return wanted
