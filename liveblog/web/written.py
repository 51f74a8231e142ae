"""Running a story command and answering with what it wrote, once the views hold it."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response

from liveblog.domain import NothingChanged
from liveblog.newsroom import Command, Outcome
from liveblog.sanitize import BodyWarning
from liveblog.web import commands
from liveblog.web.errors import ApiError
from liveblog.web.requests import (
    MIN_VERSION_WAIT,
    feed_of,
    newsroom_of,
    no_such_update,
    raw_json_response,
    story_view,
    views_of,
)
from liveblog.web.story_answer import current_story, etag
from liveblog.web.threads import in_thread
from projections.wire import folded_story_bytes, update_doc, written_update_bytes


async def run_command(request: Request, command: Command) -> Outcome:
    """Run a story command in its story's batch; a no-op answers with the state as is."""
    newsroom = newsroom_of(request)
    if feed_of(request).needs_attention(command.story_id):
        # Its read side stopped at an event the views could not store: a write now would
        # be answered but reach no reader (a retraction would leave the text public).
        # Refuse it, recording nothing, until an operator has rebuilt the views.
        raise ApiError(
            503, "story_needs_attention",
            "this story's read views stopped at an event they could not store, so readers"
            " would not see this change; nothing was recorded. An operator must run"
            " `liveblog rebuild` (see /readyz)",
            {"Retry-After": "60"},
        )  # fmt: skip
    try:
        return await commands.execute(newsroom, command)
    except NothingChanged:
        version = await in_thread(newsroom.story_version, command.story_id)
        return Outcome(command.story_id, version, recorded=False)


async def update_response(
    request: Request, outcome: Outcome, update_id: UUID, status: int = 200,
    headers: dict[str, str] | None = None, *, warnings: Sequence[BodyWarning] = (),
) -> Response:  # fmt: skip
    """The update as it stands once this process's views hold the write, with the
    ``warnings`` of its body's cleaning (if it lost anything).

    Waiting here means a reporter who posts and reloads sees the post; it costs one hop
    of the feed. Should the views lag past the wait, the update is folded from events.
    """
    doc = None
    if await views_caught_up(request, outcome):
        # What the views row holds, without reading it (else read it).
        doc = feed_of(request).recent_update_doc(outcome.story_id, update_id)
        if doc is None:
            doc = await in_thread(views_of(request).update_doc, outcome.story_id, update_id)
    if doc is None:
        story = await story_view(request, outcome.story_id, upto=outcome.version)
        update = story.updates.get(update_id)
        if update is None:
            raise no_such_update(request)
        doc = update_doc(update)
    return raw_json_response(written_update_bytes(doc, outcome.version, warnings), status, headers)


async def story_response(request: Request, outcome: Outcome, status: int = 200) -> Response:
    """The story as it stands once this process's views hold the write."""
    if await views_caught_up(request, outcome):
        loaded = await current_story(request, outcome.story_id, at_least=outcome.version)
        if loaded is not None:
            version, body = loaded
            return raw_json_response(body, status, {"ETag": etag(version)})
    story = await story_view(request, outcome.story_id, upto=outcome.version)
    return raw_json_response(folded_story_bytes(story), status, {"ETag": etag(story.version)})


async def views_caught_up(request: Request, outcome: Outcome) -> bool:
    feed = feed_of(request)
    if feed.needs_attention(outcome.story_id):
        return False  # its views stopped: waiting would only delay the answer
    return await feed.signal.wait_for(outcome.story_id, outcome.version, MIN_VERSION_WAIT)
