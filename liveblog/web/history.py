"""The story's past, for editors: raw events, an update's revisions, time travel."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from liveblog.domain import PUBLIC_EVENT_NAMES
from liveblog.tokens import Role
from liveblog.web.auth import optional_principal, require_role
from liveblog.web.errors import ApiError
from liveblog.web.inputs import accepts_query, path_uuid, query_int
from liveblog.web.requests import (
    json_response,
    missing_update,
    raw_json_response,
    reads_of,
    story_id_of,
    story_view,
    views_of,
    wait_for_min_version,
)
from liveblog.web.security import PRIVATE
from liveblog.web.threads import in_thread
from projections.story import RETRACTED
from projections.views import ReadViews
from projections.views.queries import RevisionRow
from projections.wire import folded_story_bytes, history_json, revision_json, revisions_json


async def story_in_the_past(
    request: Request, story_id: UUID, at_version: int | None, at_raw: str | None
) -> Response:
    """Editors only: the story exactly as readers saw it at a version or a moment
    (``GET /api/stories/{story}?at_version=N`` or ``?at=<time>``)."""
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


def parse_rfc3339(raw: str, name: str = "at") -> datetime:
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, "invalid_query", f"{name}: must be an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise ApiError(422, "invalid_query", f"{name}: must carry a time zone (e.g. Z)")
    return moment


@accepts_query("min_version")
async def update_revisions(request: Request) -> Response:
    principal = await optional_principal(request)
    for_editor = principal is not None and principal.role.includes(Role.EDITOR)
    story_id = story_id_of(request)
    update_id = path_uuid(request, "update", "update")
    await wait_for_min_version(request, story_id)
    # One worker call: the revisions and what the update shows now are read in one
    # snapshot (a retraction written between two reads would show its text), and the
    # editors' diffs are made off the event loop.
    revisions = await in_thread(revisions_answer, views_of(request), story_id, update_id,
                                for_editor)  # fmt: skip
    if revisions is None:
        raise await missing_update(request, story_id)
    # What an editor sees holds superseded text: for that one reader only.
    headers = PRIVATE if for_editor else None
    return json_response(revisions_json(update_id, revisions), headers=headers)


def revisions_answer(
    views: ReadViews, story_id: UUID, update_id: UUID, for_editor: bool
) -> list[dict[str, Any]] | None:
    """The items of ``GET …/revisions`` (blocking); None: no such update.

    Readers see the title and body the update shows now; old ones, and what each
    revision changed, are for editors.
    """
    history = views.revision_history(story_id, update_id)
    if history is None:
        return None
    items = []
    last_text: RevisionRow | None = None  # the newest revision so far that showed a text
    for row in history.revisions:
        diff_from = last_text if for_editor and row.kind != RETRACTED else None
        with_text = for_editor or row.revision == history.shown
        items.append(revision_json(row, with_text=with_text, diff_from=diff_from))
        if row.kind != RETRACTED:
            last_text = row
    return items


HISTORY_FILTERS = ("update", "actor", "type", "from", "to")
EVENT_TYPES = {name: kind for kind, name in PUBLIC_EVENT_NAMES.items()}


@accepts_query("after", "limit", *HISTORY_FILTERS)
async def story_history(request: Request) -> Response:
    """The raw history, optionally only the events of one update, one person, some
    event types or a time range (``next``: where the next page starts)."""
    await require_role(request, Role.EDITOR)
    story_id = story_id_of(request)
    after = query_int(request, "after", default=0, minimum=0, maximum=2**62) or 0
    limit = query_int(request, "limit", default=100, minimum=1, maximum=1000) or 100
    keep = history_filter(request)
    reads = reads_of(request)
    if keep is None:
        events = await in_thread(reads.events, story_id, after=after, limit=limit)
        next_after = events[-1].originator_version if len(events) == limit else None
    else:
        events, next_after = await in_thread(
            reads.events_where, story_id, keep, after=after, limit=limit
        )
    return json_response(history_json(events, next_after), headers=PRIVATE)


def history_filter(request: Request) -> Callable[[Any], bool] | None:
    """What ``…/events``' filters let through (all of them must), or None: no filter.

    ``update``: an update's id; ``actor``: a person's id; ``type``: event names, comma
    separated; ``from``, ``to``: RFC 3339 times, both included.
    """
    params = request.query_params
    tests: list[Callable[[Any], bool]] = []
    if params.get("update"):
        try:
            update_id = UUID(params["update"])
        except ValueError:
            raise ApiError(422, "invalid_query", "update: must be an update id") from None
        tests.append(lambda event: getattr(event, "update_id", None) == update_id)
    if params.get("actor"):
        actor = params["actor"]
        tests.append(lambda event: event.actor_id == actor)
    if params.get("type"):
        names = [name.strip() for name in params["type"].split(",") if name.strip()]
        unknown = sorted(set(names) - EVENT_TYPES.keys())
        if unknown or not names:
            known = ", ".join(EVENT_TYPES)
            raise ApiError(422, "invalid_query", f"type: not an event name ({known})")
        kinds = tuple(EVENT_TYPES[name] for name in names)
        tests.append(lambda event: type(event) in kinds)
    if params.get("from"):
        start = parse_rfc3339(params["from"], "from")
        tests.append(lambda event: event.timestamp >= start)
    if params.get("to"):
        end = parse_rfc3339(params["to"], "to")
        tests.append(lambda event: event.timestamp <= end)
    if not tests:
        return None
    return lambda event: all(test(event) for test in tests)


ROUTES = [
    Route("/api/stories/{story}/updates/{update}/revisions", update_revisions, methods=["GET"]),
    Route("/api/stories/{story}/events", story_history, methods=["GET"]),
]
