"""Story routes: the list, one story (the hottest read), and the story's own commands."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from liveblog.domain import MAX_SLUG, MAX_SUMMARY, MAX_TITLE
from liveblog.live.hub import Hub
from liveblog.tokens import Role
from liveblog.web.auth import require_role
from liveblog.web.errors import ApiError
from liveblog.web.history import story_in_the_past
from liveblog.web.inputs import (
    accepts_query,
    if_match_number,
    query_int,
    read_json_object,
    required_text,
    text_field,
)
from liveblog.web.requests import (
    newsroom_of,
    raw_json_response,
    story_id_of,
    views_of,
    wait_for_min_version,
)
from liveblog.web.story_answer import current_story, story_answer
from liveblog.web.threads import in_thread
from liveblog.web.written import run_command, story_response
from projections.wire import story_list_bytes


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
    """The story; without a query its answer is the one ``cached_story_answer`` gives."""
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
    answer = story_answer(*loaded, request.headers.get("if-none-match"))
    if answer.status == 304:
        return Response(status_code=304, headers={"ETag": answer.etag})
    return raw_json_response(answer.body, headers={"ETag": answer.etag})


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


ROUTES = [
    Route("/api/stories", create_story, methods=["POST"]),
    Route("/api/stories", list_stories, methods=["GET"]),
    Route("/api/stories/{story}", get_story, methods=["GET"]),
    Route("/api/stories/{story}", edit_story, methods=["PATCH"]),
    Route("/api/stories/{story}/close", close_story, methods=["POST"]),
    Route("/api/stories/{story}/reopen", reopen_story, methods=["POST"]),
]
