"""Draft routes: write, submit, schedule, publish or discard an update before it is public.

Who may do what (DESIGN §4): a contributor creates, edits, submits and discards their
own drafts; a reporter may also publish and schedule their own; an editor may do all of
it to anyone's. Someone else's draft is a 404 to those who may not touch it: they are
not told it exists. Setting ``pinned`` or ``key_event`` needs an editor, as on a post.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from liveblog.domain import MAX_BODY, MAX_TITLE, Actor, RevisionConflict
from liveblog.draft import DRAFT_STATUSES, PUBLISHED, Draft, check_publish_at, draft_id_for_key
from liveblog.draft_index import DraftIndex, draft_json
from liveblog.drafts import Drafts
from liveblog.newsroom import Outcome
from liveblog.publishing import mark_published, publish_command
from liveblog.sanitize import BodyWarning, clean_body
from liveblog.tokens import Principal, Role
from liveblog.web.auth import require_role
from liveblog.web.errors import ApiError
from liveblog.web.inputs import (
    accepts_query,
    bool_field,
    if_match_number,
    media_field,
    path_uuid,
    read_json_object,
    text_field,
)
from liveblog.web.requests import newsroom_of, raw_json_response, story_id_of
from liveblog.web.security import PRIVATE
from liveblog.web.threads import in_thread
from liveblog.web.written import run_command, update_response
from projections.wire import dumps

MAX_IDEMPOTENCY_KEY = 200
DRAFT_FIELDS = {"title", "body", "media", "key_event", "pinned"}


def drafts_of(request: Request) -> Drafts:
    drafts: Drafts = request.app.state.drafts
    return drafts


def index_of(request: Request) -> DraftIndex:
    index: DraftIndex = request.app.state.draft_index
    return index


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY and key.isprintable()):
        raise ApiError(
            400, "bad_request", f"Idempotency-Key: 1 to {MAX_IDEMPOTENCY_KEY} printable characters"
        )
    return key


def publish_at_field(payload: dict[str, Any], *, required: bool) -> datetime | None:
    raw = payload.get("publish_at")
    if raw is None:
        if required:
            raise ApiError(422, "invalid_field", "publish_at: is required")
        return None
    if not isinstance(raw, str) or len(raw) > 64:
        raise ApiError(422, "invalid_field", "publish_at: must be an RFC 3339 time")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ApiError(422, "invalid_field", "publish_at: must be an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise ApiError(422, "invalid_field", "publish_at: must carry a time zone (e.g. Z)")
    if not 2000 <= moment.year <= 9998:
        raise ApiError(422, "invalid_field", "publish_at: must be a year from 2000 to 9998")
    return check_publish_at(moment)


def check_flags(principal: Principal, payload: dict[str, Any]) -> tuple[bool | None, bool | None]:
    key_event, pinned = bool_field(payload, "key_event"), bool_field(payload, "pinned")
    if (pinned or key_event) and not principal.role.includes(Role.EDITOR):
        raise ApiError(403, "forbidden", "only editors may pin or mark key events")
    return key_event, pinned


def draft_response(
    draft: Draft, status: int = 200, warnings: list[BodyWarning] | None = None
) -> Response:
    """The Draft, and the ``warnings`` of its body's cleaning when it lost anything.
    Unpublished newsroom text: for its author and editors only, kept by no cache."""
    doc = draft_json(draft)
    if warnings:
        doc["warnings"] = warnings
    return raw_json_response(dumps(doc), status, PRIVATE)


async def create_scheduled_or_draft(
    request: Request, principal: Principal, payload: dict[str, Any], publish_at: datetime | None
) -> tuple[Draft, list[BodyWarning]]:
    """A new draft from ``payload`` (scheduled when ``publish_at``), or the one the same
    Idempotency-Key made before, and what cleaning its body dropped. Shared by
    ``POST …/drafts`` and a scheduled post."""
    story_id = story_id_of(request)
    key = idempotency_key(request)
    title = text_field(payload, "title", limit=MAX_TITLE) or ""
    body = text_field(payload, "body", limit=MAX_BODY, required=True) or ""
    media = media_field(payload) or []
    key_event, pinned = check_flags(principal, payload)
    drafts, index, newsroom = drafts_of(request), index_of(request), newsroom_of(request)
    draft_id = None if key is None else draft_id_for_key(story_id, principal.actor.id, key)

    def create() -> tuple[Draft, list[BodyWarning]]:
        newsroom.story_version(story_id)  # StoryNotFound (a 404) for a story that is not
        cleaned = clean_body(body)
        draft, _ = drafts.create_draft(
            story_id=story_id, title=title, body=cleaned.html, media=media,
            key_event=bool(key_event), pinned=bool(pinned), actor=principal.actor,
            draft_id=draft_id, publish_at=publish_at,
        )  # fmt: skip
        index.catch_up()
        return draft, cleaned.warnings

    return await in_thread(create)


@accepts_query()
async def create_draft(request: Request) -> Response:
    principal = await require_role(request, Role.CONTRIBUTOR)
    payload = await read_json_object(request, {*DRAFT_FIELDS, "publish_at"})
    publish_at = publish_at_field(payload, required=False)
    if publish_at is not None and not principal.role.includes(Role.REPORTER):
        raise ApiError(403, "forbidden", "scheduling needs the reporter role")
    draft, warnings = await create_scheduled_or_draft(request, principal, payload, publish_at)
    return draft_response(draft, 201, warnings)


@accepts_query("status")
async def list_drafts(request: Request) -> Response:
    """A story's drafts, most recently changed first: an editor's all, anyone else's own."""
    principal = await require_role(request, Role.CONTRIBUTOR)
    story_id = story_id_of(request)
    status = request.query_params.get("status")
    if status is not None and status not in DRAFT_STATUSES:
        raise ApiError(422, "invalid_query", f"status: must be one of {', '.join(DRAFT_STATUSES)}")
    author = None if principal.role.includes(Role.EDITOR) else principal.actor.id
    newsroom, index = newsroom_of(request), index_of(request)

    def listing() -> list[bytes]:
        newsroom.story_version(story_id)  # a 404 for a story that is not
        index.catch_up()
        return index.list_docs(story_id, status=status, author_id=author)

    docs = await in_thread(listing)
    return raw_json_response(b'{"drafts":[' + b",".join(docs) + b"]}", headers=PRIVATE)


async def draft_for(request: Request, principal: Principal) -> Draft:
    """The draft the path names, if the caller may see it; else a 404 naming it."""
    story_id = story_id_of(request)
    draft_id = path_uuid(request, "draft", "draft")
    draft = await in_thread(drafts_of(request).find_draft, draft_id)
    may_see = draft is not None and (
        principal.role.includes(Role.EDITOR) or draft.author.id == principal.actor.id
    )
    if draft is None or draft.story_id != story_id or not may_see:
        raise ApiError(
            404, "not_found",
            f"no draft {request.path_params['draft']!r} in story {request.path_params['story']!r}",
        )  # fmt: skip
    return draft


@accepts_query()
async def get_draft(request: Request) -> Response:
    principal = await require_role(request, Role.CONTRIBUTOR)
    return draft_response(await draft_for(request, principal))


async def change(
    request: Request, draft_id: UUID, decide: Callable[[Draft], object],
    expected_revision: int | None = None, warnings: list[BodyWarning] | None = None,
) -> Response:  # fmt: skip
    """Run ``decide`` on the draft and save it (in a worker thread); answer with it (and
    ``warnings``, what cleaning the body that ``decide`` records dropped)."""
    drafts, index = drafts_of(request), index_of(request)

    def changed() -> Draft:
        draft = drafts.change_draft(draft_id, decide, expected_revision=expected_revision)
        index.catch_up()
        return draft

    return draft_response(await in_thread(changed), warnings=warnings)


@accepts_query()
async def edit_draft(request: Request) -> Response:
    principal = await require_role(request, Role.CONTRIBUTOR)
    draft = await draft_for(request, principal)
    expected = if_match_number(request, "d")
    payload = await read_json_object(request, DRAFT_FIELDS)
    title = text_field(payload, "title", limit=MAX_TITLE)
    body = text_field(payload, "body", limit=MAX_BODY)
    media = media_field(payload)
    key_event, pinned = check_flags(principal, payload)
    if title is None and body is None and media is None and key_event is None and pinned is None:
        raise ApiError(422, "invalid_field", "give title, body, media, key_event or pinned")
    cleaned = None if body is None else await in_thread(clean_body, body)

    def edit(d: Draft) -> None:
        d.edit(title=title, body=None if cleaned is None else cleaned.html, media=media,
               key_event=key_event, pinned=pinned, actor=principal.actor,
               expected_revision=expected,
               as_editor=principal.role.includes(Role.EDITOR))  # fmt: skip

    warnings = None if cleaned is None else cleaned.warnings
    return await change(request, draft.id, edit, expected, warnings)


# A change that takes no fields: the draft, who acts, and the revision they named.
Action = Callable[[Draft, Actor, int | None], object]


async def act_on_draft(request: Request, role: Role, action: Action) -> Response:
    principal = await require_role(request, role)
    draft = await draft_for(request, principal)
    expected = if_match_number(request, "d")
    return await change(request, draft.id, lambda d: action(d, principal.actor, expected),
                        expected)  # fmt: skip


@accepts_query()
async def submit_draft(request: Request) -> Response:
    return await act_on_draft(
        request, Role.CONTRIBUTOR, lambda d, by, rev: d.submit(actor=by, expected_revision=rev)
    )


@accepts_query()
async def schedule_draft(request: Request) -> Response:
    """Schedule or reschedule (``{publish_at}``): a reporter their own, an editor any."""
    principal = await require_role(request, Role.REPORTER)
    draft = await draft_for(request, principal)
    expected = if_match_number(request, "d")
    payload = await read_json_object(request, {"publish_at"})
    publish_at = publish_at_field(payload, required=True)
    assert publish_at is not None

    def schedule(d: Draft) -> None:
        d.schedule(publish_at=publish_at, actor=principal.actor, expected_revision=expected)

    return await change(request, draft.id, schedule, expected)


@accepts_query()
async def unschedule_draft(request: Request) -> Response:
    return await act_on_draft(
        request, Role.REPORTER, lambda d, by, rev: d.unschedule(actor=by, expected_revision=rev)
    )


@accepts_query()
async def discard_draft(request: Request) -> Response:
    return await act_on_draft(
        request, Role.CONTRIBUTOR, lambda d, by, rev: d.discard(actor=by, expected_revision=rev)
    )


@accepts_query()
async def publish_draft(request: Request) -> Response:
    """Publish now: the Update it became (the same one however often this is called).

    With ``If-Match: "d<revision>"``, only that revision: what the editor read is what
    is published, never a change the author made in between (409 then). The update is
    made from the draft as loaded here, so it holds exactly the revision checked."""
    principal = await require_role(request, Role.REPORTER)
    draft = await draft_for(request, principal)
    expected = if_match_number(request, "d")
    draft.check_publishable()
    if expected is not None and draft.status != PUBLISHED and draft.revision != expected:
        raise RevisionConflict(f"the draft is at revision {draft.revision}, not {expected}")
    newsroom = newsroom_of(request)
    publisher: Actor = principal.actor
    if draft.status == PUBLISHED:
        version = await in_thread(newsroom.story_version, draft.story_id)
        outcome = Outcome(draft.story_id, version, recorded=False)
    else:
        outcome = await run_command(request, publish_command(newsroom, draft, publisher))
    await in_thread(mark_published, drafts_of(request), index_of(request), draft.id, publisher)
    assert outcome.update_id is not None or draft.update_id is not None
    update_id = outcome.update_id or draft.update_id
    assert update_id is not None
    return await update_response(request, outcome, update_id)


async def scheduled_post(request: Request, principal: Principal, payload: dict[str, Any],
                         publish_at: datetime) -> Response:  # fmt: skip
    """``POST …/updates`` with ``publish_at``: a scheduled draft, answered 202."""
    draft, warnings = await create_scheduled_or_draft(request, principal, payload, publish_at)
    return draft_response(draft, 202, warnings)


ROUTES = [
    Route("/api/stories/{story}/drafts", create_draft, methods=["POST"]),
    Route("/api/stories/{story}/drafts", list_drafts, methods=["GET"]),
    Route("/api/stories/{story}/drafts/{draft}", get_draft, methods=["GET"]),
    Route("/api/stories/{story}/drafts/{draft}", edit_draft, methods=["PATCH"]),
    Route("/api/stories/{story}/drafts/{draft}/submit", submit_draft, methods=["POST"]),
    Route("/api/stories/{story}/drafts/{draft}/publish", publish_draft, methods=["POST"]),
    Route("/api/stories/{story}/drafts/{draft}/schedule", schedule_draft, methods=["POST"]),
    Route("/api/stories/{story}/drafts/{draft}/unschedule", unschedule_draft, methods=["POST"]),
    Route("/api/stories/{story}/drafts/{draft}/discard", discard_draft, methods=["POST"]),
]
