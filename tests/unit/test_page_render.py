"""The pages' render cache, their JSON-LD's escaping, and the live module's tables
against the server's."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re

from liveblog.web.assets import ASSETS
from liveblog.web.jsonld import script_text
from liveblog.web.page_render import PROVIDER_NAMES, RenderCache, Rendered, utc_text


async def test_a_key_is_rendered_once_however_many_ask_at_once() -> None:
    cache = RenderCache()
    renders = 0

    async def make() -> Rendered:
        nonlocal renders
        renders += 1
        await asyncio.sleep(0.01)
        return Rendered.of(b"<p>page</p>")

    answers = await asyncio.gather(*(cache.get_or_render(("s", 1), make) for _ in range(50)))
    assert renders == 1
    assert {a.body for a in answers} == {b"<p>page</p>"}
    assert cache.get(("s", 1)) == answers[0]


async def test_a_failed_render_is_not_kept_and_the_cache_is_bounded() -> None:
    cache = RenderCache()

    async def fail() -> Rendered:
        raise ValueError("no")

    for _ in range(2):
        with contextlib.suppress(ValueError):
            await cache.get_or_render("bad", fail)
    assert cache.get("bad") is None
    for n in range(RenderCache.MAX + 10):
        await cache.get_or_render(n, lambda: asyncio.sleep(0, Rendered.of(b"x")))
    assert len(cache) == RenderCache.MAX
    assert cache.get(0) is None


def test_json_ld_cannot_end_its_script_element() -> None:
    text = script_text({"headline": "</script><script>alert(1)</script> & more"})
    assert "<" not in text
    assert ">" not in text
    assert "&" not in text
    assert json.loads(text)["headline"] == "</script><script>alert(1)</script> & more"


def test_the_live_module_names_providers_as_the_server_does() -> None:
    source = ASSETS["live.js"].body.decode()
    table = re.search(r"const NAMES = \{(.*?)\};", source, re.S)
    assert table is not None
    names = dict(re.findall(r'(\w+): "([^"]+)"', table.group(1)))
    assert names == PROVIDER_NAMES


def test_times_are_shown_in_utc_until_the_module_shows_local_time() -> None:
    assert utc_text("2020-10-06T04:12:00Z") == "6 Oct 2020, 04:12 UTC"
    assert utc_text("2026-12-01T10:00:00.123456Z") == "1 Dec 2026, 10:00 UTC"
