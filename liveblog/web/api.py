"""The JSON API of DESIGN §4: thin handlers that parse, authorize, command and render.

Commands and reads are synchronous (the eventsourcing library), so they run in worker
threads: a story command joins its story's next batch (``web/commands.py``), a read
runs in a thread of its own; the event loop only parses and writes bytes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from liveblog.domain import (
    MAX_BODY,
    MAX_NOTE,
    MAX_REASON,
    MAX_SLUG,
    MAX_SUMMARY,
    MAX_TITLE,
    NothingChanged,
)
from liveblog.feed import Feed
from liveblog.health import HealthMonitor
from liveblog.live.hub import Hub
from liveblog.newsroom import Command, Newsroom, Outcome, resolve_story_ref
from liveblog.tokens import Role
from liveblog.web import commands
from liveblog.web.auth import optional_principal, require_role
from liveblog.web.errors import RETRY_AFTER_SECONDS, ApiError
from liveblog.web.inputs import (
    accepts_query,
    bool_field,
    if_match_number,
    path_uuid,
    query_bool,
    query_int,
    read_json_object,
    required_text,
    text_field,
)
from liveblog.web.openapi import DESCRIPTION
from liveblog.web.paths import story_ref_in
from liveblog.web.security import PRIVATE, SECURITY_HEADERS
from liveblog.web.threads import in_thread
from projections.story import StoryView
from projections.story_reads import StoryReads
from projections.views import ReadViews
from projections.wire import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    dumps,
    folded_story_bytes,
    history_json,
    revision_json,
    revisions_json,
    story_list_bytes,
    update_doc,
    updates_page_bytes,
    written_update_bytes,
)

MAX_IDEMPOTENCY_KEY = 200
# How long ``?min_version`` waits for the views before answering 503.
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


def story_id_of(request: Request) -> UUID:
    return newsroom_of(request).resolve_story_id(request.path_params["story"])


def etag(version: int) -> str:
    return f'"v{version}"'


async def run_command(request: Request, command: Command) -> Outcome:
    """Run a story command in its story's batch; a no-op answers with the state as is."""
    newsroom = newsroom_of(request)
    feed: Feed = request.app.state.feed
    if feed.needs_attention(command.story_id):
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


async def story_view(request: Request, story_id: UUID, upto: int | None = None) -> StoryView:
    return await in_thread(reads_of(request).story, story_id, upto=upto)


async def update_response(
    request: Request, outcome: Outcome, update_id: UUID, status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    """The update as it stands once this process's views hold the write.

    Waiting here means a reporter who posts and reloads sees the post; it costs one hop
    of the feed. Should the views lag past the wait, the update is folded from events.
    """
    doc = None
    if await views_caught_up(request, outcome):
        feed: Feed = request.app.state.feed
        recent = feed.recent_update(outcome.story_id, update_id)
        if recent is not None:  # what the views row holds, without reading it
            doc = update_doc(recent)
        else:
            doc = await in_thread(views_of(request).update_doc, outcome.story_id, update_id)
    if doc is None:
        story = await story_view(request, outcome.story_id, upto=outcome.version)
        update = story.updates.get(update_id)
        if update is None:
            raise ApiError(404, "not_found", f"no update {update_id} in this story")
        doc = update_doc(update)
    return raw_json_response(written_update_bytes(doc, outcome.version), status, headers)


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
    feed: Feed = request.app.state.feed
    if feed.needs_attention(outcome.story_id):
        return False  # its views stopped: waiting would only delay the answer
    return await feed.signal.wait_for(outcome.story_id, outcome.version, MIN_VERSION_WAIT)


# -- health -----------------------------------------------------------------------------


@accepts_query()
async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


@accepts_query()
async def readyz(request: Request) -> Response:
    """Ready or not, from the health monitor's last check: never waits for the database.

    Stories whose projection stopped are listed, but keep the process ready: every
    process stops at the same event, and the other stories must go on being served
    (DESIGN §9)."""
    health: HealthMonitor = request.app.state.health
    readiness = health.readiness()
    if not readiness.ready:
        raise ApiError(503, "not_ready", readiness.reason, {"Retry-After": RETRY_AFTER_SECONDS})
    feed: Feed = request.app.state.feed
    attention = [story.as_json() for story in feed.stories_needing_attention()]
    return json_response({"status": "ready", "stories_needing_attention": attention})


OPENAPI_BYTES = dumps(DESCRIPTION)  # made once: the description is data


@accepts_query()
async def openapi_json(request: Request) -> Response:
    return raw_json_response(OPENAPI_BYTES)


# -- stories ----------------------------------------------------------------------------


@accepts_query()
async def create_story(request: Request) -> Response:
    principal = await require_role(request, Role.EDITOR)
    payload = await read_json_object(request, {"slug", "title", "summary"})
    slug = required_text(payload, "slug", limit=MAX_SLUG)
    title = required_text(payload, "title", limit=MAX_TITLE)
    summary = text_field(payload, "summary", limit=MAX_SUMMARY) or ""
    outcome = await in_thread(
        newsroom_of(request).open_story,
        slug=slug, title=title, summary=summary, actor=principal.actor,
    )  # fmt: skip
    response = await story_response(request, outcome, 201)
    response.headers["Location"] = f"/api/stories/{outcome.story_id}"
    return response


@accepts_query("status")
async def list_stories(request: Request) -> Response:
    status = request.query_params.get("status")
    if status not in (None, "live", "closed"):
        raise ApiError(422, "invalid_query", "status: must be live or closed")
    docs = await in_thread(views_of(request).story_list, status)
    return raw_json_response(story_list_bytes(docs))


@accepts_query("at_version", "at", "min_version")
async def get_story(request: Request) -> Response:
    story_id = story_id_of(request)
    wanted = 0
    if request.scope["query_string"]:  # the common read has none: skip parsing it
        at_version = query_int(request, "at_version", default=None, minimum=1, maximum=2**62)
        at_raw = request.query_params.get("at")
        if at_version is not None or at_raw is not None:
            return await story_in_the_past(request, story_id, at_version, at_raw)
        wanted = await wait_for_min_version(request, story_id)
    hub: Hub = request.app.state.hub
    loaded = hub.cached_snapshot(story_id, wanted) or await current_story(
        request, story_id, wanted
    )
    if loaded is None:
        raise ApiError(404, "not_found", f"no story {request.path_params['story']!r}")
    version, body = loaded
    tag = etag(version)
    matches = _if_none_match(request)
    if tag in matches or "*" in matches:
        return Response(status_code=304, headers={"ETag": tag})
    return raw_json_response(body, headers={"ETag": tag})


async def current_story(
    request: Request, story_id: UUID, at_least: int = 0
) -> tuple[int, bytes] | None:
    """The Story JSON from the views, rendered once per version and kept by the hub."""
    views = views_of(request)

    async def load() -> tuple[int, bytes] | None:
        page = await in_thread(views.story_page, story_id, DEFAULT_PAGE_SIZE)
        return None if page is None else (page.head.version, page.render())

    hub: Hub = request.app.state.hub
    return await hub.snapshot(story_id, load, at_least=at_least)


async def story_in_the_past(
    request: Request, story_id: UUID, at_version: int | None, at_raw: str | None
) -> Response:
    """Editors only: the story exactly as readers saw it at a version or a moment."""
    await require_role(request, Role.EDITOR)
    if at_version is not None and at_raw is not None:
        raise ApiError(422, "invalid_query", "give at_version or at, not both")
    if at_version is not None:
        story = await story_view(request, story_id, upto=at_version)
        if story.version < at_version:
            raise ApiError(404, "not_found", f"the story has no version {at_version} yet")
    else:
        moment = parse_rfc3339(at_raw or "")
        story = await in_thread(reads_of(request).story_at, story_id, moment)
    return raw_json_response(folded_story_bytes(story), headers=PRIVATE)


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
    feed: Feed = request.app.state.feed
    if not await feed.signal.wait_for(story_id, wanted, MIN_VERSION_WAIT):
        raise ApiError(
            503, "not_yet", f"version {wanted} is not readable yet; try again",
            {"Retry-After": "1"},
        )  # fmt: skip
    return wanted


def _if_none_match(request: Request) -> set[str]:
    return etags_in(request.headers.get("if-none-match"))


def etags_in(raw: str | None) -> set[str]:
    if not raw:
        return set()
    return {part.strip().removeprefix("W/") for part in raw.split(",") if part.strip()}


# -- the hottest read, without routing --------------------------------------------------

RawHeaders = list[tuple[bytes, bytes]]


def cached_story_answer(hub: Hub, scope: Scope) -> tuple[int, RawHeaders, bytes] | None:
    """``GET /api/stories/{story}`` (no query) answered from the hub's current render.

    Readers poll this one URL by the thousand; Starlette's middleware, its routing (this
    route is tried fifth) and a Request cost as much again as the answer itself. This
    answers exactly as ``get_story`` would, with the same status, headers and bytes, or
    says None, and the request takes the routed path (unknown story, nothing cached yet).
    """
    ref = story_ref_in(scope)
    if ref is None:
        return None
    cached = hub.cached_snapshot(resolve_story_ref(ref))
    if cached is None:
        return None
    version, body = cached
    tag = etag(version).encode()
    wanted: str | None = None
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            wanted = value.decode("latin-1")  # Starlette's Headers.get: the first one
            break
    matches = etags_in(wanted)
    if tag.decode() in matches or "*" in matches:
        return 304, [(b"etag", tag), *SECURITY_HEADERS], b""
    headers = [
        (b"etag", tag),
        (b"content-length", str(len(body)).encode()),
        (b"content-type", b"application/json"),
        *SECURITY_HEADERS,
    ]
    return 200, headers, body


def parse_rfc3339(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, "invalid_query", "at: must be an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise ApiError(422, "invalid_query", "at: must carry a time zone (e.g. Z)")
    return moment


@accepts_query()
async def edit_story(request: Request) -> Response:
    principal = await require_role(request, Role.EDITOR)
    story_id = story_id_of(request)
    expected = if_match_number(request, "v")
    payload = await read_json_object(request, {"title", "summary"})
    title = text_field(payload, "title", limit=MAX_TITLE)
    summary = text_field(payload, "summary", limit=MAX_SUMMARY)
    if title is None and summary is None:
        raise ApiError(422, "invalid_field", "give title, summary or both")
    command = newsroom_of(request).edit_story_command(
        story_id, title=title, summary=summary, actor=principal.actor, expected_version=expected
    )
    outcome = await run_command(request, command)
    return await story_response(request, outcome)


@accepts_query()
async def close_story(request: Request) -> Response:
    principal = await require_role(request, Role.EDITOR)
    command = newsroom_of(request).close_story_command(story_id_of(request), actor=principal.actor)
    outcome = await run_command(request, command)
    return await story_response(request, outcome)


@accepts_query()
async def reopen_story(request: Request) -> Response:
    principal = await require_role(request, Role.EDITOR)
    command = newsroom_of(request).reopen_story_command(
        story_id_of(request), actor=principal.actor
    )
    outcome = await run_command(request, command)
    return await story_response(request, outcome)


# -- updates ----------------------------------------------------------------------------


@accepts_query()
async def post_update(request: Request) -> Response:
    principal = await require_role(request, Role.REPORTER)
    story_id = story_id_of(request)
    key = request.headers.get("idempotency-key")
    if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY and key.isprintable()):
        raise ApiError(
            400, "bad_request", f"Idempotency-Key: 1 to {MAX_IDEMPOTENCY_KEY} printable characters"
        )
    payload = await read_json_object(
        request, {"body", "title", "key_event", "pinned", "draft", "publish_at"}
    )
    if payload.get("draft") or payload.get("publish_at") is not None:
        raise ApiError(422, "not_supported", "drafts and scheduled posts are not supported yet")
    body = required_text(payload, "body", limit=MAX_BODY)
    title = text_field(payload, "title", limit=MAX_TITLE) or ""
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
    )
    outcome = await run_command(request, command)
    assert outcome.update_id is not None
    headers = {"Idempotent-Replayed": "true"} if key and not outcome.recorded else None
    return await update_response(request, outcome, outcome.update_id, 201, headers)


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


@accepts_query()
async def correct_update(request: Request) -> Response:
    principal = await require_role(request, Role.REPORTER)
    story_id = story_id_of(request)
    update_id = path_uuid(request, "update", "update")
    expected = if_match_number(request, "r")
    payload = await read_json_object(request, {"body", "note"})
    body = required_text(payload, "body", limit=MAX_BODY)
    note = required_text(payload, "note", limit=MAX_NOTE)
    command = newsroom_of(request).correct_update_command(
        story_id,
        update_id,
        body=body,
        note=note,
        actor=principal.actor,
        as_editor=principal.role.includes(Role.EDITOR),
        expected_revision=expected,
    )
    outcome = await run_command(request, command)
    return await update_response(request, outcome, update_id)


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


@accepts_query("min_version")
async def update_revisions(request: Request) -> Response:
    principal = await optional_principal(request)
    show_bodies = principal is not None and principal.role.includes(Role.EDITOR)
    story_id = story_id_of(request)
    update_id = path_uuid(request, "update", "update")
    await wait_for_min_version(request, story_id)
    views = views_of(request)
    status = await in_thread(views.update_status, story_id, update_id)
    if status is None:
        raise ApiError(404, "not_found", f"no update {update_id} in this story")
    rows = await in_thread(views.revisions, story_id, update_id)
    # Readers see the body an update shows now; old bodies are for editors.
    shown = status.revision if status.status == "published" else None
    revisions = [
        revision_json(row, with_text=show_bodies or row.revision == shown) for row in rows
    ]
    # What an editor sees holds superseded text: for that one reader only.
    headers = PRIVATE if show_bodies else None
    return json_response(revisions_json(update_id, revisions), headers=headers)


# -- raw history ------------------------------------------------------------------------


@accepts_query("after", "limit")
async def story_history(request: Request) -> Response:
    await require_role(request, Role.EDITOR)
    story_id = story_id_of(request)
    after = query_int(request, "after", default=0, minimum=0, maximum=2**62) or 0
    limit = query_int(request, "limit", default=100, minimum=1, maximum=1000) or 100
    events = await in_thread(reads_of(request).events, story_id, after=after, limit=limit)
    next_after = events[-1].originator_version if len(events) == limit else None
    return json_response(history_json(events, next_after), headers=PRIVATE)


ROUTES = [
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    Route("/api/openapi.json", openapi_json, methods=["GET"]),
    Route("/api/stories", create_story, methods=["POST"]),
    Route("/api/stories", list_stories, methods=["GET"]),
    Route("/api/stories/{story}", get_story, methods=["GET"]),
    Route("/api/stories/{story}", edit_story, methods=["PATCH"]),
    Route("/api/stories/{story}/close", close_story, methods=["POST"]),
    Route("/api/stories/{story}/reopen", reopen_story, methods=["POST"]),
    Route("/api/stories/{story}/updates", post_update, methods=["POST"]),
    Route("/api/stories/{story}/updates", list_updates, methods=["GET"]),
    Route("/api/stories/{story}/updates/{update}", flag_update, methods=["PATCH"]),
    Route("/api/stories/{story}/updates/{update}/corrections", correct_update, methods=["POST"]),
    Route("/api/stories/{story}/updates/{update}/retraction", retract_update, methods=["POST"]),
    Route("/api/stories/{story}/updates/{update}/revisions", update_revisions, methods=["GET"]),
    Route("/api/stories/{story}/events", story_history, methods=["GET"]),
]
