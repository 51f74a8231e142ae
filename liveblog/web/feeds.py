"""A story's feeds: ``/stories/{slug}/feed.atom`` (Atom 1.0, RFC 4287) and
``/stories/{slug}/feed.json`` (JSON Feed 1.1).

One entry per update, newest first (the newest ``FEED_ENTRIES``), each with a stable
``urn:uuid:`` id (the update's), ``published`` when it was posted and ``updated`` when it
last changed, so a feed reader shows a correction as a change to the entry it has. A
retracted update is a tombstone: its reason, never its text. A feed is rendered once per
story version and kept (``FeedCache``); its ETag and ``Cache-Control`` come from the
public answers' layer (``liveblog.web.public``), so a CDN and feed readers revalidate
for free.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID
from xml.sax.saxutils import escape, quoteattr

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from liveblog.settings import Settings
from liveblog.web.errors import ApiError
from liveblog.web.inputs import accepts_query
from liveblog.web.public import public_base_url
from liveblog.web.requests import newsroom_of, views_of
from liveblog.web.threads import in_thread
from projections.views import ReadViews

FEED_ENTRIES = 50
EXCERPT = 80  # characters of an untitled update's text that stand for its title
ATOM_TYPE = "application/atom+xml; charset=utf-8"
JSON_FEED_TYPE = "application/feed+json"
_TAG = re.compile(r"<[^>]*>")


def update_anchor(update_id: str) -> str:
    """The fragment of an update on the reader page (``#update-<id>``)."""
    return f"update-{update_id}"


def plain_text(body: str) -> str:
    """A sanitized body's words, without markup (for titles and excerpts)."""
    return " ".join(html.unescape(_TAG.sub(" ", body)).split())


def entry_title(update: dict[str, Any]) -> str:
    if update["status"] == "retracted":
        return "Retracted"
    if update["title"]:
        return str(update["title"])
    text = plain_text(update["body"])
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1].rstrip() + "…"


def entry_html(update: dict[str, Any]) -> str:
    """The entry's content: the body, its correction notes, or the tombstone."""
    if update["status"] == "retracted":
        reason = (update.get("retraction") or {}).get("reason", "")
        return f"<p>This update was retracted: {html.escape(reason)}</p>"
    notes = "".join(
        f"<p><em>Corrected: {html.escape(c['note'])}</em></p>" for c in update["corrections"]
    )
    return str(update["body"]) + notes


class Feed:
    """What both formats are made from: the story's fields and its newest updates."""

    def __init__(self, base: str, fields: dict[str, Any], updates: list[dict[str, Any]],
                 publisher: str) -> None:  # fmt: skip
        self.fields = fields
        self.updates = updates
        self.publisher = publisher
        self.page = f"{base}/stories/{fields['slug']}"

    def link(self, update: dict[str, Any]) -> str:
        return f"{self.page}#{update_anchor(update['id'])}"

    def atom(self) -> bytes:
        f = self.fields
        lines = [
            '<?xml version="1.0" encoding="utf-8"?>',
            '<feed xmlns="http://www.w3.org/2005/Atom">',
            f"<id>urn:uuid:{f['id']}</id>",
            f"<title>{escape(f['title'])}</title>",
            f"<subtitle>{escape(f['summary'])}</subtitle>" if f["summary"] else "",
            f"<updated>{f['updated_at']}</updated>",
            f'<link rel="alternate" type="text/html" href={quoteattr(self.page)}/>',
            '<link rel="self" type="application/atom+xml"'
            f" href={quoteattr(self.page + '/feed.atom')}/>",
            f"<author><name>{escape(self.publisher)}</name></author>",
            "<generator>liveblog</generator>",
        ]
        for u in self.updates:
            lines += [
                "<entry>",
                f"<id>urn:uuid:{u['id']}</id>",
                f"<title>{escape(entry_title(u))}</title>",
                f'<link rel="alternate" type="text/html" href={quoteattr(self.link(u))}/>',
                f"<published>{u['published_at']}</published>",
                f"<updated>{u['updated_at']}</updated>",
                f"<author><name>{escape(u['author']['name'])}</name></author>",
                f'<content type="html">{escape(entry_html(u))}</content>',
                "</entry>",
            ]
        lines.append("</feed>")
        return "\n".join(line for line in lines if line).encode() + b"\n"

    def json_feed(self) -> bytes:
        f = self.fields
        feed = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": f["title"],
            "home_page_url": self.page,
            "feed_url": f"{self.page}/feed.json",
            "description": f["summary"],
            "authors": [{"name": self.publisher}],
            "items": [
                {
                    "id": f"urn:uuid:{u['id']}",
                    "url": self.link(u),
                    "title": entry_title(u),
                    "content_html": entry_html(u),
                    "date_published": u["published_at"],
                    "date_modified": u["updated_at"],
                    "authors": [{"name": u["author"]["name"]}],
                    "_liveblog": {"status": u["status"], "revision": u["revision"]},
                }
                for u in self.updates
            ],
        }
        return orjson.dumps(feed)


class FeedCache:
    """Feeds rendered once per story version: (story, format) → (version, bytes). One per
    app (``create_app`` makes it): it holds what one store's stories were."""

    MAX = 1024

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rendered: dict[tuple[UUID, str, str], tuple[int, bytes]] = {}

    def feed(
        self, views: ReadViews, story_id: UUID, kind: str, base: str, publisher: str
    ) -> bytes | None:
        """The story's feed in ``kind`` (blocking), or None when there is no such story."""
        head = views.story_head(story_id)
        if head is None:
            return None
        key = (story_id, kind, base)
        with self._lock:
            kept = self._rendered.get(key)
        if kept is not None and kept[0] == head.version:
            return kept[1]
        page = views.story_page(story_id, FEED_ENTRIES)
        if page is None:
            return None
        fields = orjson.loads(page.head.fields_doc)
        feed = Feed(base, fields, [orjson.loads(row.doc) for row in page.updates], publisher)
        body = feed.atom() if kind == "atom" else feed.json_feed()
        with self._lock:
            if len(self._rendered) >= self.MAX:
                self._rendered.clear()  # rare: a thousand stories' feeds read at once
            self._rendered[key] = (page.head.version, body)
        return body


def feed_route(kind: str, media_type: str) -> Callable[[Request], Any]:
    @accepts_query()
    async def serve_feed(request: Request) -> Response:
        story_ref = request.path_params["slug"]
        story_id = newsroom_of(request).resolve_story_id(story_ref)
        settings: Settings = request.app.state.settings
        cache: FeedCache = request.app.state.feed_cache
        body = await in_thread(cache.feed, views_of(request), story_id, kind,
                               public_base_url(request), settings.publisher_name)  # fmt: skip
        if body is None:
            raise ApiError(404, "not_found", f"no story {story_ref!r}")
        return Response(body, media_type=media_type)

    serve_feed.__name__ = f"{kind}_feed"
    return serve_feed


ROUTES = [
    Route("/stories/{slug}/feed.atom", feed_route("atom", ATOM_TYPE), methods=["GET"]),
    Route("/stories/{slug}/feed.json", feed_route("json", JSON_FEED_TYPE), methods=["GET"]),
]
