"""The pages' templates and their renders, kept once per story version.

Templates are in ``liveblog/templates`` (package data), autoescaped: every plain text
(titles, summaries, notes, reasons, names, captions) is escaped by Jinja; an update's
body is the server's sanitized HTML and is the one value marked safe (``_update.html``).
The live page's module (``static/live.js``) renders an update arriving live with the
same markup as ``_update.html``; the browser tests compare the two.

A story's page is the same bytes for every reader until the story's next event, so
``RenderCache`` keeps each render by (story, version, variant) and renders a key once
however many readers ask at the same moment: a CDN's miss, or a thousand readers
opening a breaking story, costs one render.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, datetime
from typing import Any, NamedTuple

import jinja2
from starlette.templating import Jinja2Templates

from liveblog.media import PROVIDERS
from liveblog.web.assets import asset_url
from liveblog.web.public import body_etag

# How an embed's provider (``media[].provider``) is named to readers: the media's own
# table; the live module holds the same names (tests/unit/test_page_render.py compares).
PROVIDER_NAMES = {key: name for key, (name, _) in PROVIDERS.items()}


def utc_text(moment: str | None) -> str:
    """An RFC 3339 time as the page shows it before its module shows local time."""
    if not moment:
        return ""
    parsed = datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(UTC)
    return parsed.strftime("%-d %b %Y, %H:%M UTC")


def provider_name(item: dict[str, Any]) -> str:
    provider = item.get("provider")
    if isinstance(provider, str) and provider in PROVIDER_NAMES:
        return PROVIDER_NAMES[provider]
    return "the provider"


def make_templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("liveblog", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["asset"] = asset_url
    env.filters["utc"] = utc_text
    env.filters["provider_name"] = provider_name
    return Jinja2Templates(env=env)


TEMPLATES = make_templates()


def render(name: str, **context: Any) -> bytes:
    """A template's text as bytes (blocking: run it in a worker thread)."""
    return TEMPLATES.get_template(name).render(context).encode()


class Rendered(NamedTuple):
    body: bytes
    etag: str  # a strong tag of the bytes, made once with them

    @classmethod
    def of(cls, body: bytes) -> Rendered:
        return cls(body, body_etag(body).decode())


class RenderCache:
    """Renders by key, the newest ``MAX`` kept; one render per key at a time.

    A key names a story's version (and the page's variant and address), so a kept render
    is never stale: the next version is another key, and the old one ages out.
    """

    MAX = 512

    def __init__(self) -> None:
        self._kept: OrderedDict[Hashable, Rendered] = OrderedDict()
        self._rendering: dict[Hashable, asyncio.Future[Rendered]] = {}

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, key: Hashable) -> Rendered | None:
        kept = self._kept.get(key)
        if kept is not None:
            self._kept.move_to_end(key)
        return kept

    async def get_or_render(
        self, key: Hashable, make: Callable[[], Awaitable[Rendered]]
    ) -> Rendered:
        kept = self.get(key)
        if kept is not None:
            return kept
        pending = self._rendering.get(key)
        if pending is None:
            pending = asyncio.ensure_future(make())
            self._rendering[key] = pending
            pending.add_done_callback(lambda done: self._settle(key, done))
        return await asyncio.shield(pending)

    def _settle(self, key: Hashable, done: asyncio.Future[Rendered]) -> None:
        self._rendering.pop(key, None)
        if done.cancelled() or done.exception() is not None:
            return  # an error page is not kept: the next reader tries again
        self._kept[key] = done.result()
        while len(self._kept) > self.MAX:
            self._kept.popitem(last=False)
