"""Update routes: post, list, read one, correct or revert, retract, reinstate, pin or
mark a key event."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from liveblog.domain import MAX_BODY, MAX_NOTE, MAX_REASON, MAX_TITLE
from liveblog.sanitize import Sanitized
from liveblog.tokens import Role
from liveblog.web.auth import require_role
from liveblog.web.drafts import idempotency_key, publish_at_field, scheduled_post
from liveblog.web.errors import ApiError
from liveblog.web.inputs import (
    accepts_query,
    bool_field,
    if_match_number,
    media_field,
    path_uuid,
    query_bool,
    query_int,
    read_json_object,
    required_text,
    text_field,
)
from liveblog.web.requests import (
    missing_update,
    newsroom_of,
    no_such_update,
    raw_json_response,
    reads_of,
    story_id_of,
    views_of,
    wait_for_min_version,
)
from liveblog.web.threads import in_thread
from liveblog.web.written import run_command, update_response
from projections.story import RETRACTED
from projections.views import ReadViews
from projections.wire import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, updates_page_bytes


@accepts_query()
async def post_update(request: Request) -> Response:
    """Post now, or with ``publish_at`` schedule the post (a Draft, answered 202)."""
    principal = await require_role(request, Role.REPORTER)
    story_id = story_id_of(request)
    key = idempotency_key(request)
    payload = await read_json_object(
        request, {"body", "title", "media", "key_event", "pinned", "publish_at"}
    )
    publish_at = publish_at_field(payload, required=False)
    if publish_at is not None:
        return await scheduled_post(request, principal, payload, publish_at)
    body = Sanitized(required_text(payload, "body", limit=MAX_BODY))
    title = text_field(payload, "title", limit=MAX_TITLE) or ""
    media = media_field(payload) or []
    key_event = bool_field(payload, "key_event") or False
    pinned = bool_field(payload, "pinned") or False
    if (pinned or key_event) and not principal.role.includes(Role.EDITOR):
        raise ApiError(403, "forbidden", "only editors may pin or mark key events")
    command = newsroom_of(request).post_update_command(
        story_id,
        body=body,
        title=title,
        key_event=key_event,
        pinned=pinned,
        actor=principal.actor,
        idempotency_key=key,
        media=media,
    )
    outcome = await run_command(request, command)
    assert outcome.update_id is not None
    headers = {"Idempotent-Replayed": "true"} if key and not outcome.recorded else None
    return await update_response(
        request, outcome, outcome.update_id, 201, headers, warnings=body.warnings
    )


@accepts_query("before", "limit", "key_events", "min_version")
async def list_updates(request: Request) -> Response:
    story_id = story_id_of(request)
    limit = query_int(
        request, "limit", default=DEFAULT_PAGE_SIZE, minimum=1, maximum=MAX_PAGE_SIZE
    )
    key_events_only = query_bool(request, "key_events")
    await wait_for_min_version(request, story_id)
    story_ref = request.path_params["story"]
    before = request.query_params.get("before") or None
    # One worker call for the whole page: each hop to a thread and back waits for the
    # event loop, which a storm of resumes keeps busy (scripts/benchmarks/figures/resume_storm.py).
    page = await in_thread(
        updates_page, views_of(request), story_id, story_ref,
        before=before, limit=limit or DEFAULT_PAGE_SIZE, key_events_only=key_events_only,
    )  # fmt: skip
    return raw_json_response(page)


def updates_page(
    views: ReadViews, story_id: UUID, story_ref: str, *, before: str | None, limit: int,
    key_events_only: bool,
) -> bytes:  # fmt: skip
    """A page of the story's updates, newest first, as the read API sends it (blocking)."""
    if views.story_head(story_id) is None:
        raise ApiError(404, "not_found", f"no story {story_ref!r}")
    before_sequence = None
    if before is not None:
        try:
            cursor = views.update_status(story_id, UUID(before))
        except ValueError:
            cursor = None
        if cursor is None:
            raise ApiError(422, "invalid_query", "before: not an update of this story")
        before_sequence = cursor.sequence
    rows = views.timeline(
        story_id, before_sequence=before_sequence, limit=limit + 1,
        key_events_only=key_events_only,
    )  # fmt: skip
    page = rows[:limit]
    next_update = page[-1].update_id if len(rows) > limit else None
    return updates_page_bytes([row.doc for row in page], next_update)


@accepts_query("min_version")
async def get_update(request: Request) -> Response:
    """One Update (a permalink): what the timeline shows of it now."""
    story_id = story_id_of(request)
    update_id = path_uuid(request, "update", "update")
    await wait_for_min_version(request, story_id)
    doc = await in_thread(views_of(request).update_doc, story_id, update_id)
    if doc is None:
        raise await missing_update(request, story_id)
    return raw_json_response(doc.encode())


@accepts_query()
async def correct_update(request: Request) -> Response:
    """A correction (``{title?, body?, media?, note}``: at least one of them changes) or
    a revert (``{revert_to: N, note}``: revision N's title, body and media made current
    again)."""
    principal = await require_role(request, Role.REPORTER)
    story_id = story_id_of(request)
    update_id = path_uuid(request, "update", "update")
    expected = if_match_number(request, "r")
    payload = await read_json_object(request, {"title", "body", "media", "note", "revert_to"})
    note = required_text(payload, "note", limit=MAX_NOTE)
    revert_to = payload.get("revert_to")
    title: str | None
    body: Sanitized | None = None
    media: Sequence[dict[str, Any]] | None
    if revert_to is not None:
        if {"title", "body", "media"} & payload.keys():
            raise ApiError(
                422, "invalid_field", "revert_to: give it without title, body and media"
            )
        # A revision's body was cleaned when it was recorded: cleaning it again loses
        # nothing (``sanitize_body`` is idempotent), so a revert warns of nothing.
        title, old_body, media = await revision_text(request, story_id, update_id, revert_to)
        body = Sanitized(old_body)
    else:
        title = text_field(payload, "title", limit=MAX_TITLE)
        new_body = text_field(payload, "body", limit=MAX_BODY)
        body = None if new_body is None else Sanitized(new_body)
        media = media_field(payload)
        if title is None and body is None and media is None:
            raise ApiError(
                422, "invalid_field", "give title, body, media or several (or revert_to)"
            )
    command = newsroom_of(request).correct_update_command(
        story_id,
        update_id,
        title=title,
        body=body,
        media=media,
        note=note,
        reverted_to=revert_to,
        actor=principal.actor,
        as_editor=principal.role.includes(Role.EDITOR),
        expected_revision=expected,
    )
    outcome = await run_command(request, command)
    warnings = () if body is None else body.warnings
    return await update_response(request, outcome, update_id, warnings=warnings)


async def revision_text(
    request: Request, story_id: UUID, update_id: UUID, number: object
) -> tuple[str, str, Sequence[dict[str, Any]]]:
    """The title, body and media of revision ``number`` of the update, from its stored
    events (a revision never changes once made, so reading it before the command is
    safe)."""
    if type(number) is not int or number < 1:
        raise ApiError(422, "invalid_field", "revert_to: must be a revision number (1 or more)")
    story = await in_thread(reads_of(request).story, story_id)
    update = story.updates.get(update_id)
    if update is None:
        raise no_such_update(request)
    if number > len(update.revisions):
        raise ApiError(422, "invalid_field", f"revert_to: the update has no revision {number}")
    revision = update.revisions[number - 1]
    if revision.kind == RETRACTED:
        raise ApiError(422, "invalid_field", f"revert_to: revision {number} is a retraction")
    return revision.title, revision.body, revision.media


@accepts_query()
async def retract_update(request: Request) -> Response:
    principal = await require_role(request, Role.EDITOR)
    story_id = story_id_of(request)
    update_id = path_uuid(request, "update", "update")
    payload = await read_json_object(request, {"reason"})
    reason = required_text(payload, "reason", limit=MAX_REASON)
    command = newsroom_of(request).retract_update_command(
        story_id, update_id, reason=reason, actor=principal.actor
    )
    outcome = await run_command(request, command)
    return await update_response(request, outcome, update_id)


@accepts_query()
async def reinstate_update(request: Request) -> Response:
    """Undo a retraction (``{reason}``): the update shows its last text again."""
    principal = await require_role(request, Role.EDITOR)
    story_id = story_id_of(request)
    update_id = path_uuid(request, "update", "update")
    expected = if_match_number(request, "r")
    payload = await read_json_object(request, {"reason"})
    reason = required_text(payload, "reason", limit=MAX_REASON)
    command = newsroom_of(request).reinstate_update_command(
        story_id, update_id, reason=reason, actor=principal.actor, expected_revision=expected
    )
    outcome = await run_command(request, command)
    return await update_response(request, outcome, update_id)


@accepts_query()
async def flag_update(request: Request) -> Response:
    principal = await require_role(request, Role.EDITOR)
    story_id = story_id_of(request)
    update_id = path_uuid(request, "update", "update")
    payload = await read_json_object(request, {"pinned", "key_event"})
    pinned = bool_field(payload, "pinned")
    key_event = bool_field(payload, "key_event")
    if pinned is None and key_event is None:
        raise ApiError(422, "invalid_field", "give pinned, key_event or both")
    command = newsroom_of(request).flag_update_command(
        story_id, update_id, pinned=pinned, key_event=key_event, actor=principal.actor
    )
    outcome = await run_command(request, command)
    return await update_response(request, outcome, update_id)


ROUTES = [
    Route("/api/stories/{story}/updates", post_update, methods=["POST"]),
    Route("/api/stories/{story}/updates", list_updates, methods=["GET"]),
    Route("/api/stories/{story}/updates/{update}", get_update, methods=["GET"]),
    Route("/api/stories/{story}/updates/{update}", flag_update, methods=["PATCH"]),
    Route("/api/stories/{story}/updates/{update}/corrections", correct_update, methods=["POST"]),
    Route("/api/stories/{story}/updates/{update}/retraction", retract_update, methods=["POST"]),
    Route(
        "/api/stories/{story}/updates/{update}/reinstatement", reinstate_update, methods=["POST"]
    ),
]
