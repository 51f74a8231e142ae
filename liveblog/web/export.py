"""``GET /api/stories/{story}/export``: one story as an export file, for editors.

The same NDJSON as ``liveblog export --story`` (``liveblog.export_format``), but for the
people: listing people is for admins, and the story's events name their authors anyway.
The story is read a page at a time in worker threads (each under the request deadline),
so a story of any length streams without holding the event loop or all its events; the
first page is read before the answer starts, so an unknown story is a 404.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from liveblog.export_format import MEDIA_TYPE, end_line, header_line
from liveblog.exporter import story_lines
from liveblog.newsroom import Newsroom
from liveblog.sections import PAGE_SIZE
from liveblog.tokens import Role
from liveblog.web.auth import require_role
from liveblog.web.errors import ApiError
from liveblog.web.inputs import accepts_query
from liveblog.web.requests import newsroom_of, story_id_of
from liveblog.web.security import PRIVATE
from liveblog.web.threads import in_thread


@accepts_query()
async def export_story(request: Request) -> Response:
    await require_role(request, Role.EDITOR)
    story_id = story_id_of(request)
    newsroom = newsroom_of(request)
    first, count = await in_thread(story_lines, newsroom, story_id, after=0)
    if not count:
        raise ApiError(404, "not_found", f"no story {request.path_params['story']!r}")
    return StreamingResponse(
        _lines(newsroom, story_id, first, count),
        media_type=MEDIA_TYPE,
        headers={**PRIVATE, "Content-Disposition": "attachment"},
    )


async def _lines(
    newsroom: Newsroom, story_id: UUID, first: bytes, count: int
) -> AsyncIterator[bytes]:
    yield header_line() + first
    total = version = count  # a story's versions run 1, 2, 3, ...: the last one read
    while count == PAGE_SIZE:
        page, count = await in_thread(story_lines, newsroom, story_id, after=version)
        total += count
        version += count
        yield page
    yield end_line(total)


ROUTES = [Route("/api/stories/{story}/export", export_story, methods=["GET"])]
