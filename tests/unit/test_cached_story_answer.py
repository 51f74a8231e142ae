"""``GET /api/stories/{story}`` answered from the hub's render, before routing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from liveblog.domain import story_id_for_slug
from liveblog.live.frames import Frame
from liveblog.live.hub import Hub
from liveblog.web.public import PublicFace
from liveblog.web.security import SECURITY_HEADERS
from liveblog.web.story_answer import cached_story_answer

BODY = b'{"id":"x","version":3}'
PUBLIC = (b"cache-control", b"public, max-age=1, stale-while-revalidate=10")
SLUG = "osh-floods"
STORY_ID = story_id_for_slug(SLUG)


@pytest.fixture
async def hub() -> Hub:
    hub = Hub()
    hub.bind(asyncio.get_running_loop())

    async def load() -> tuple[int, bytes]:
        return 3, BODY

    assert await hub.snapshot(STORY_ID, load) == (3, BODY)
    return hub


def scope(path: str, *headers: tuple[bytes, bytes], root_path: str = "") -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": path, "root_path": root_path,
            "query_string": b"", "headers": list(headers)}  # fmt: skip


@pytest.mark.parametrize("ref", [SLUG, str(STORY_ID)], ids=["slug", "id"])
async def test_a_cached_story_is_answered_with_its_etag_and_bytes(hub: Hub, ref: str) -> None:
    answer = cached_story_answer(hub, scope(f"/api/stories/{ref}"))

    assert answer == (
        200,
        [(b"etag", b'"v3"'), PUBLIC, (b"content-length", str(len(BODY)).encode()),
         (b"content-type", b"application/json"), *SECURITY_HEADERS],
        BODY,
    )  # fmt: skip


@pytest.mark.parametrize("given", [b'"v3"', b'W/"v3"', b'"v1", "v3"', b"*"])
async def test_a_matching_if_none_match_gets_304_with_no_body(hub: Hub, given: bytes) -> None:
    answer = cached_story_answer(hub, scope(f"/api/stories/{SLUG}", (b"if-none-match", given)))

    assert answer == (304, [(b"etag", b'"v3"'), PUBLIC, *SECURITY_HEADERS], b"")


@pytest.mark.parametrize("given", [b'"v2"', b"v3", b'"v33"', b""])
async def test_another_etag_gets_the_story(hub: Hub, given: bytes) -> None:
    answer = cached_story_answer(hub, scope(f"/api/stories/{SLUG}", (b"if-none-match", given)))

    assert answer is not None
    assert answer[0] == 200


@pytest.mark.parametrize(
    "path",
    ["/api/stories/other-story", "/api/stories/", f"/api/stories/{SLUG}/updates",
     f"/api/stories/{SLUG}/live/sse", "/api/stories", f"/api/storiesx/{SLUG}", "/healthz"],
)  # fmt: skip
async def test_anything_else_takes_the_routed_path(hub: Hub, path: str) -> None:
    assert cached_story_answer(hub, scope(path)) is None


async def test_a_newer_event_than_the_render_takes_the_routed_path(hub: Hub) -> None:
    hub.channel(STORY_ID).ring.append(Frame(4, "{}"))  # as publishing version 4 does

    assert cached_story_answer(hub, scope(f"/api/stories/{SLUG}")) is None


async def test_the_root_path_is_left_out_of_the_match(hub: Hub) -> None:
    mounted = scope(f"/news/api/stories/{SLUG}", root_path="/news")

    assert cached_story_answer(hub, mounted) is not None


async def test_an_allowed_sites_browser_gets_cors_and_the_configured_cache_control(
    hub: Hub,
) -> None:
    face = PublicFace("public, max-age=5", frozenset({"https://news.example"}))
    allowed = cached_story_answer(
        hub, scope(f"/api/stories/{SLUG}", (b"origin", b"https://news.example")), face
    )
    assert allowed is not None
    assert (b"cache-control", b"public, max-age=5") in allowed[1]
    assert (b"access-control-allow-origin", b"https://news.example") in allowed[1]
    other = cached_story_answer(
        hub, scope(f"/api/stories/{SLUG}", (b"origin", b"https://evil.example")), face
    )
    assert other is not None
    assert all(name != b"access-control-allow-origin" for name, _ in other[1])
