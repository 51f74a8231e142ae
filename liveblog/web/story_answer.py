"""One read path for ``GET /api/stories/{story}``: the routed handler and the ready answer.

The Story JSON is rendered once per version and kept by the hub (``current_story``).
Whether a reader gets those bytes or a 304 is decided in one place (``story_answer``),
whether the request was routed (``web/stories.py::get_story``) or answered before routing
(``cached_story_answer``, which ``LiveblogApp.ready_answer`` calls).
"""

from __future__ import annotations

from typing import NamedTuple
from uuid import UUID

from starlette.requests import Request
from starlette.types import Scope

from liveblog.live.hub import Hub
from liveblog.newsroom import resolve_story_ref
from liveblog.web.paths import story_ref_in
from liveblog.web.public import PublicFace, etags_in
from liveblog.web.requests import views_of
from liveblog.web.security import SECURITY_HEADERS
from liveblog.web.threads import in_thread
from projections.wire import DEFAULT_PAGE_SIZE

RawHeaders = list[tuple[bytes, bytes]]


class StoryAnswer(NamedTuple):
    status: int  # 200, or 304 when the reader's If-None-Match holds the current tag
    etag: str
    body: bytes  # empty for a 304


def etag(version: int) -> str:
    return f'"v{version}"'


def story_answer(version: int, body: bytes, if_none_match: str | None) -> StoryAnswer:
    """The answer to a reader holding ``if_none_match`` (the first such header, as
    Starlette's ``Headers.get`` gives it) for the story rendered as ``body`` at ``version``."""
    tag = etag(version)
    matches = etags_in(if_none_match)
    if tag in matches or "*" in matches:
        return StoryAnswer(304, tag, b"")
    return StoryAnswer(200, tag, body)


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


DEFAULT_FACE = PublicFace()


def cached_story_answer(
    hub: Hub, scope: Scope, face: PublicFace = DEFAULT_FACE
) -> tuple[int, RawHeaders, bytes] | None:
    """``GET /api/stories/{story}`` (no query) answered from the hub's current render.

    Readers poll this one URL by the thousand; Starlette's middleware, its routing (this
    route is tried sixth) and a Request cost as much again as the answer itself. This
    answers exactly as ``get_story`` would, with the same status, headers and bytes, or
    says None, and the request takes the routed path (unknown story, nothing cached yet).
    """
    ref = story_ref_in(scope)
    if ref is None:
        return None
    cached = hub.cached_snapshot(resolve_story_ref(ref))
    if cached is None:
        return None
    wanted: str | None = None
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            wanted = value.decode("latin-1")  # Starlette's Headers.get: the first one
            break
    answer = story_answer(*cached, wanted)
    tag = answer.etag.encode()
    public = [
        (b"cache-control", face.cache_control.encode()),
        *face.cors_headers(scope["headers"]),
    ]
    if answer.status == 304:
        return 304, [(b"etag", tag), *public, *SECURITY_HEADERS], b""
    headers = [
        (b"etag", tag),
        *public,
        (b"content-length", str(len(answer.body)).encode()),
        (b"content-type", b"application/json"),
        *SECURITY_HEADERS,
    ]
    return 200, headers, answer.body
