"""The readers' pages (DESIGN §11): the front page, a story's reader page and its embed,
and one update's page.

Each is server-rendered HTML that reads well with JavaScript off; with it on, the live
module (``static/live.js``) connects with ``since=`` the version the page was rendered
at, so nothing falls between the render and the stream. A story's pages are rendered
once per story version and variant (``page_render.RenderCache``), from the Story JSON
the hub keeps for the API (``story_answer.current_story``): a page view of a story
whose render is current costs no database query and no template.

Bad input gets the status the API would answer (``422`` for a query parameter the page
does not know or a ``before`` that names no update of the story, ``404`` naming the
slug or update asked for), never a 500: as an HTML page for a browser, as the API's
JSON error for any other client (``Vary: Accept``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from uuid import UUID

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from liveblog.newsroom import resolve_story_ref
from liveblog.settings import Settings
from liveblog.web import jsonld
from liveblog.web.errors import ApiError, error_response
from liveblog.web.feeds import entry_title, plain_text
from liveblog.web.inputs import QUERY_NAMES, Endpoint, accepts_query, path_uuid, query_bool
from liveblog.web.page_render import RenderCache, Rendered, render
from liveblog.web.public import PublicFace, etags_in, header_value, public_base_url
from liveblog.web.requests import views_of
from liveblog.web.security import SECURITY_HEADERS
from liveblog.web.story_answer import current_story
from liveblog.web.threads import in_thread
from liveblog.web.updates import updates_page
from projections.wire import DEFAULT_PAGE_SIZE

# What a page may load: its own files, and images over https (an update's media). No
# inline script or style; JSON-LD is data, which CSP does not run. The live streams are
# 'self' too (CSP 3 matches ws: and wss: to the page's own host).
_POLICY = (
    "default-src 'self'; img-src 'self' https: data:; object-src 'none'; base-uri 'none';"
    " form-action 'self'; frame-ancestors "
)
PAGE_POLICY = _POLICY + "'none'"
SHOWN = 80  # characters of a slug or id that an error page repeats


def embed_policy(face: PublicFace) -> str:
    """The embed may be framed by this site and the sites ``LIVEBLOG_ALLOWED_ORIGINS``
    lists; a browser refuses to show it in any other site's page."""
    return _POLICY + " ".join(["'self'", *sorted(face.allowed_origins)])


def shown(value: str) -> str:
    return repr(value if len(value) <= SHOWN else value[:SHOWN] + "…")


def site_name(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return settings.publisher_name


def page(*names: str) -> Callable[[Endpoint], Endpoint]:
    """``accepts_query(*names)``, with errors shown as an HTML page of the same status."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        checked = accepts_query(*names)(endpoint)

        @functools.wraps(endpoint)
        async def shown_as_page(request: Request) -> Response:
            try:
                return await checked(request)
            except ApiError as error:
                return error_page(request, error)

        QUERY_NAMES[shown_as_page] = QUERY_NAMES.pop(checked)
        return shown_as_page

    return decorate


ERROR_HEADINGS = {404: "Not found", 422: "That address does not work"}


def error_page(request: Request, error: ApiError) -> Response:
    """The error as a page for a browser (it asks for ``text/html``), else as the API's
    JSON error, which scripts and the API's own tests read."""
    vary = {"Vary": "Accept"}
    if "text/html" not in request.headers.get("accept", ""):
        return error_response(error.status, error.code, error.message, {**error.headers, **vary})
    body = render(
        "error.html", site=site_name(request), code=error.code, message=error.message,
        heading=ERROR_HEADINGS.get(error.status, "Something is wrong"),
    )  # fmt: skip
    headers = {**error.headers, **vary, "Content-Security-Policy": PAGE_POLICY}
    return HTMLResponse(body, status_code=error.status, headers=headers)


def answer(request: Request, rendered: Rendered, policy: str) -> Response:
    headers = {"ETag": rendered.etag, "Content-Security-Policy": policy}
    if rendered.etag in etags_in(request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    return HTMLResponse(rendered.body, headers=headers)


def render_cache(request: Request) -> RenderCache:
    cache: RenderCache = request.app.state.page_cache
    return cache


async def story_now(request: Request, slug: str) -> tuple[UUID, int, bytes]:
    """The story's id and its current version and Story JSON (from the hub when it holds
    them, else one read of the views); a 404 naming the slug when there is none."""
    story_id = resolve_story_ref(slug)
    loaded = request.app.state.hub.cached_snapshot(story_id) or await current_story(
        request, story_id
    )
    if loaded is None:
        raise ApiError(404, "not_found", f"There is no story {shown(slug)}.")
    version, body = loaded
    return story_id, version, body


async def reader_page(request: Request, *, embed: bool) -> Response:
    slug = request.path_params["slug"]
    before = request.query_params.get("before") or None
    key_only = query_bool(request, "key_events")
    base = public_base_url(request)
    story_id, version, story_json = await story_now(request, slug)

    async def make() -> Rendered:
        story = orjson.loads(story_json)
        updates, after = story["updates"], story["next"]
        if before is not None or key_only:
            chosen = await in_thread(
                updates_page, views_of(request), story_id, slug, before=before,
                limit=DEFAULT_PAGE_SIZE, key_events_only=key_only,
            )  # fmt: skip
            found = orjson.loads(chosen)
            updates, after = found["updates"], found["next"]
        canonical = f"{base}/stories/{story['slug']}"
        markup = jsonld.live_blog_posting(canonical, story, updates, site_name(request))
        path = f"/stories/{story['slug']}" + ("/embed" if embed else "")
        body = await in_thread(
            render, "story.html", site=site_name(request), story=story, version=version,
            updates=updates, next=after, before=before, key_only=key_only, embed=embed,
            mode="top" if before is None else "older", path=path, canonical=canonical,
            on_page={u["id"] for u in updates}, jsonld=jsonld.script_text(markup),
        )  # fmt: skip
        return Rendered.of(body)

    key = ("story", story_id, version, embed, before, key_only, base)
    rendered = await render_cache(request).get_or_render(key, make)
    face: PublicFace = request.app.state.public
    return answer(request, rendered, embed_policy(face) if embed else PAGE_POLICY)


@page("before", "key_events")
async def story_page(request: Request) -> Response:
    return await reader_page(request, embed=False)


@page("before", "key_events")
async def story_embed(request: Request) -> Response:
    return await reader_page(request, embed=True)


@page()
async def update_page(request: Request) -> Response:
    slug = request.path_params["slug"]
    update_id = path_uuid(request, "update", "update")
    base = public_base_url(request)
    story_id, version, story_json = await story_now(request, slug)

    async def make() -> Rendered:
        doc = await in_thread(views_of(request).update_doc, story_id, update_id)
        if doc is None:
            raise ApiError(
                404, "not_found", f"There is no update {shown(str(update_id))} in this story."
            )
        update = orjson.loads(doc)
        story = orjson.loads(story_json)
        retracted = update["status"] == "retracted"
        reason = (update.get("retraction") or {}).get("reason", "")
        images = [m for m in update.get("media") or [] if m.get("type") == "image"]
        body = await in_thread(
            render, "update_page.html", site=site_name(request), story=story, u=update,
            version=version, canonical=f"{base}/stories/{story['slug']}/updates/{update['id']}",
            headline=entry_title(update),
            description=f"Retracted: {reason}" if retracted else plain_text(update["body"])[:200],
            image=None if retracted or not images else images[0],
        )  # fmt: skip
        return Rendered.of(body)

    key = ("update", story_id, version, update_id, base)
    rendered = await render_cache(request).get_or_render(key, make)
    return answer(request, rendered, PAGE_POLICY)


def ready_page(
    state: Any, scope: Scope, face: PublicFace
) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
    """``GET /stories/{slug}`` (no query) answered before routing, when the page's render
    for the story's current version is kept; else None, and the request is routed.

    The same bytes and headers as ``story_page`` (the routed path also adds the request
    id): readers open a breaking story by the thousand, and routing, middleware and a
    Request cost more than the answer itself (``scripts/bench``, reader page).
    """
    path: str = scope["path"]
    if not path.startswith("/stories/"):
        return None
    slug = path[len("/stories/") :]
    if not slug or "/" in slug:
        return None
    story_id = resolve_story_ref(slug)
    current = state.hub.cached_snapshot(story_id)
    if current is None:
        return None
    host = header_value(scope["headers"], b"host")
    base = face.public_url or f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}"
    cache: RenderCache = state.page_cache
    rendered = cache.get(("story", story_id, current[0], False, None, False, base))
    if rendered is None:
        return None
    public = [
        (b"etag", rendered.etag.encode()),
        (b"cache-control", face.cache_control.encode()),
        *face.cors_headers(scope["headers"]),
        (b"content-security-policy", _PAGE_POLICY_BYTES),
        *SECURITY_HEADERS[:2],
    ]
    if rendered.etag in etags_in(header_value(scope["headers"], b"if-none-match")):
        return 304, public, b""
    length = str(len(rendered.body)).encode()
    headers = [*public, (b"content-length", length), (b"content-type", _HTML)]
    return 200, headers, rendered.body


_PAGE_POLICY_BYTES = PAGE_POLICY.encode()
_HTML = b"text/html; charset=utf-8"
FRONT_PAGE_STORIES = 50


@page()
async def front_page(request: Request) -> Response:
    docs = await in_thread(views_of(request).story_list, None)
    stories = [orjson.loads(doc) for doc in docs]
    stories.sort(key=lambda s: s["last_update_at"] or s["updated_at"], reverse=True)
    live = [s for s in stories if s["status"] == "live"][:FRONT_PAGE_STORIES]
    recent = [s for s in stories if s["status"] != "live"][:FRONT_PAGE_STORIES]
    body = await in_thread(render, "front.html", site=site_name(request), live=live,
                           recent=recent)  # fmt: skip
    return HTMLResponse(body, headers={"Content-Security-Policy": PAGE_POLICY})


ROUTES = [
    Route("/", front_page, methods=["GET"]),
    Route("/stories/{slug}", story_page, methods=["GET"]),
    Route("/stories/{slug}/embed", story_embed, methods=["GET"]),
    Route("/stories/{slug}/updates/{update}", update_page, methods=["GET"]),
]
