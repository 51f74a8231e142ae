"""The readers' pages over HTTP from a real server: what a reader without JavaScript sees,
what search engines read (JSON-LD checked field by field against the story's API
answer), and every hostile address answered with a clear 4xx.

The live side, in a real browser, is ``tests/browser``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from liveblog.demo import DEMO_SLUG
from tests.e2e.server import BACKENDS, LiveServer, backend_url, run_cli, served
from tests.helpers import Tokens, auth, issue_tokens, open_story, post
from tests.html_tree import Node, parse

HTML = {"Accept": "text/html,application/xhtml+xml"}
PUBLIC = "public, max-age=1, stale-while-revalidate=10"
SLUG = "harbour-fire"
TITLE = "Fire at the <harbour> & 'docks'"
PAGE_BUDGET = 60 * 1024
ALLOWED = "https://allowed.example"


def page(client: httpx.Client, path: str, status: int = 200) -> Node:
    answer = client.get(path, headers=HTML)
    assert answer.status_code == status, (path, answer.status_code, answer.text[:300])
    assert answer.headers["content-type"].startswith("text/html")
    return parse(answer.text)


def json_ld(tree: Node) -> dict[str, Any]:
    scripts = tree.find_all("script")
    (script,) = [s for s in scripts if s.attrs.get("type") == "application/ld+json"]
    found: dict[str, Any] = json.loads("".join(str(c) for c in script.children))
    return found


def meta(tree: Node, key: str) -> str:
    for node in tree.find_all("meta"):
        if key in (node.attrs.get("property"), node.attrs.get("name")):
            return node.attrs["content"]
    raise AssertionError(f"no meta {key}")


def articles(tree: Node, list_id: str = "updates") -> list[Node]:
    holder = tree.by_id(list_id)
    assert holder is not None, list_id
    return holder.find_all("article")


def check_json_ld(tree: Node, story: dict[str, Any], base: str, publisher: str) -> None:
    """The page's LiveBlogPosting against the story as the API answers it."""
    markup = json_ld(tree)
    url = f"{base}/stories/{story['slug']}"
    assert markup["@context"] == "https://schema.org"
    assert markup["@type"] == "LiveBlogPosting"
    assert markup["headline"] == story["title"]
    assert markup["description"] == story["summary"]
    assert markup["url"] == url
    assert markup["datePublished"] == story["created_at"]
    assert markup["dateModified"] == story["updated_at"]
    assert markup["coverageStartTime"] == story["coverage_start"]
    if story["status"] == "closed":
        assert markup["coverageEndTime"] == story["coverage_end"]
    else:
        assert "coverageEndTime" not in markup
    assert markup["publisher"] == {"@type": "Organization", "name": publisher}
    published = [u for u in story["updates"] if u["status"] == "published"]
    assert len(markup["liveBlogUpdate"]) == len(published)
    for item, update in zip(markup["liveBlogUpdate"], published, strict=True):
        assert item["@type"] == "BlogPosting"
        assert item["url"] == f"{url}#update-{update['id']}"
        assert item["datePublished"] == update["published_at"]
        assert item["dateModified"] == update["updated_at"]
        assert item["author"] == {"@type": "Person", "name": update["author"]["name"]}
        text = " ".join(re.sub(r"<[^>]*>", " ", update["body"]).split())
        assert item["articleBody"] == text
        assert item["headline"] == (update["title"] or text)
        assert "<" not in item["articleBody"]


# -- on each backend: a story as readers see it --------------------------------------------


@pytest.fixture(params=BACKENDS)
def story_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[LiveServer, Tokens]]:
    yield from served(backend_url(request, tmp_path), tmp_path)


def test_the_reader_page_shows_the_story_without_javascript(
    story_server: tuple[LiveServer, Tokens],
) -> None:
    server, tokens = story_server
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        open_story(client, tokens.editor, SLUG, TITLE, summary="Crews <b>fight</b> it.")
        ids = [post(client, tokens.reporter, SLUG, f"<p>Update {n}.</p>")["id"] for n in range(22)]
        titled = post(client, tokens.reporter, SLUG, "<p>Smoke <em>over</em> the bay.</p>",
                      title="Smoke & ash")["id"]  # fmt: skip
        wrong = post(client, tokens.reporter, SLUG, "<p>Three ships burn.</p>")["id"]
        editor = auth(tokens.editor)
        fix = {"body": "<p>One ship burns.</p>", "note": "Only <one> ship"}
        client.post(f"/api/stories/{SLUG}/updates/{wrong}/corrections", headers=editor, json=fix)
        gone = post(client, tokens.reporter, SLUG, "<p>Captain arrested.</p>")["id"]
        client.post(f"/api/stories/{SLUG}/updates/{gone}/retraction", headers=editor,
                    json={"reason": "Not <confirmed>"})  # fmt: skip
        client.patch(f"/api/stories/{SLUG}/updates/{titled}", headers=editor,
                     json={"pinned": True, "key_event": True})  # fmt: skip
        story = client.get(f"/api/stories/{SLUG}").json()

        tree = page(client, f"/stories/{SLUG}")
        title = tree.by_id("story-title")
        assert title is not None
        assert title.text == TITLE  # escaped in the HTML, whole on the page
        assert tree.one("title").text.startswith(TITLE)
        assert (tree.by_id("story-summary") or tree).text == "Crews <b>fight</b> it."
        assert tree.find_all(cls="live-badge")
        assert not tree.find_all(cls="ended")
        root = tree.by_id("story")
        assert root is not None
        assert root.attrs["data-version"] == str(story["version"])
        # Newest first, the first page's 20, each with its anchor.
        shown = articles(tree)
        assert [a.attrs["id"] for a in shown] == [f"update-{u['id']}" for u in story["updates"]]
        assert len(shown) == 20
        first = shown[0]
        assert "retracted" in first.classes
        assert first.one(cls="tombstone").text == "This update was retracted: Not <confirmed>"
        assert "Captain" not in first.text
        corrected = shown[1]
        assert corrected.one(cls="body").text == "One ship burns."
        assert corrected.one(cls="notes").text.startswith("Corrected ")
        assert corrected.one(cls="notes").text.endswith("— Only <one> ship")
        when = corrected.one(cls="meta").one("time").attrs["datetime"]
        assert when == story["updates"][1]["published_at"]
        assert when.endswith("Z")
        assert corrected.one(cls="by").text == "Rashid Reporter"
        assert shown[2].one("h3").text == "Smoke & ash"
        assert shown[2].one(cls="body").find_all("em")
        # Pinned, and the key events as jump links to the anchors.
        assert [a.attrs["id"] for a in articles(tree, "pinned-list")] == [f"pinned-{titled}"]
        keys = (tree.by_id("key-events-list") or tree).find_all("a")
        assert [(a.attrs["href"], a.text) for a in keys] == [(f"#update-{titled}", "Smoke & ash")]
        # The aria-live region, the feeds, the canonical and share tags.
        assert (tree.by_id("updates") or tree).attrs.get("aria-live") == "polite"
        alternates = {
            link.attrs["type"]: link.attrs["href"]
            for link in tree.find_all("link")
            if link.attrs.get("rel") == "alternate"
        }
        assert alternates == {
            "application/atom+xml": f"/stories/{SLUG}/feed.atom",
            "application/feed+json": f"/stories/{SLUG}/feed.json",
        }
        canonical = next(n for n in tree.find_all("link") if n.attrs.get("rel") == "canonical")
        assert canonical.attrs["href"] == f"{server.base_url}/stories/{SLUG}"
        assert meta(tree, "og:title") == TITLE
        assert meta(tree, "twitter:card") == "summary"
        check_json_ld(tree, story, server.base_url, "liveblog")

        # "Older updates" is a plain link to the next page.
        older = tree.by_id("older")
        assert older is not None
        assert older.attrs["href"] == f"/stories/{SLUG}?before={story['next']}"
        rest = page(client, older.attrs["href"])
        assert [a.attrs["id"] for a in articles(rest)] == [f"update-{i}" for i in ids[:5][::-1]]
        assert rest.by_id("older") is None
        # Key events only.
        key_page = page(client, f"/stories/{SLUG}?key_events=true")
        assert [a.attrs["id"] for a in articles(key_page)] == [f"update-{titled}"]

        # Closed: the banner, and JSON-LD's coverageEndTime.
        assert client.post(f"/api/stories/{SLUG}/close", headers=auth(tokens.editor)).is_success
        closed = client.get(f"/api/stories/{SLUG}").json()
        tree = page(client, f"/stories/{SLUG}")
        assert (tree.one(cls="ended")).text == "Coverage has ended"
        assert not tree.find_all(cls="live-badge")
        check_json_ld(tree, closed, server.base_url, "liveblog")


# -- on SQLite: the demo story, and everything a hostile client can send --------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Tokens]]:
    folder = tmp_path_factory.mktemp("pages")
    url = f"sqlite:///{folder / 'pages.sqlite3'}"
    run_cli(url, "demo")
    tokens = issue_tokens(url)
    env = {"LIVEBLOG_ALLOWED_ORIGINS": ALLOWED, "LIVEBLOG_PUBLISHER_NAME": "Test Desk"}
    server = LiveServer(url, folder / "server.log", env=env).start()
    yield server, tokens
    server.stop()


@pytest.fixture
def client(demo: tuple[LiveServer, Tokens]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo[0].base_url, timeout=30) as http:
        yield http


def module_graph_size(client: httpx.Client, url: str) -> int:
    """The bytes of a module and of every module it imports, each counted once."""
    pending, seen, size = [url], set(), 0
    while pending:
        address = pending.pop()
        if address in seen:
            continue
        seen.add(address)
        body = client.get(address).content
        size += len(body)
        pending.extend(re.findall(r'from "(/static/[^"]+)"', body.decode()))
    return size


def test_the_demo_page_with_its_css_and_module_is_under_60_kb(client: httpx.Client) -> None:
    answer = client.get(f"/stories/{DEMO_SLUG}", headers=HTML)
    tree = parse(answer.text)
    stylesheet = next(n for n in tree.find_all("link") if n.attrs.get("rel") == "stylesheet")
    module = next(n for n in tree.find_all("script") if n.attrs.get("type") == "module")
    sizes = {
        "page": len(answer.content),
        "css": len(client.get(stylesheet.attrs["href"]).content),
        "js": module_graph_size(client, module.attrs["src"]),
    }
    print(f"reader page of the demo story: {sizes}, {sum(sizes.values())} bytes in all")
    assert sum(sizes.values()) < PAGE_BUDGET, sizes
    # Nothing from another host: every address the page names for loading is its own.
    for node in tree.walk():
        for name in ("src", "href"):
            value = node.attrs.get(name, "")
            if node.tag in ("script", "img", "iframe") or node.attrs.get("rel") == "stylesheet":
                assert not value.startswith(("http:", "https:", "//")), (node.tag, value)


def test_the_json_ld_names_the_configured_publisher(client: httpx.Client) -> None:
    story = client.get(f"/api/stories/{DEMO_SLUG}").json()
    check_json_ld(page(client, f"/stories/{DEMO_SLUG}"), story, str(client.base_url).rstrip("/"),
                  "Test Desk")  # fmt: skip


def test_pages_are_cacheable_and_answer_304(
    client: httpx.Client, demo: tuple[LiveServer, Tokens]
) -> None:
    story = client.get(f"/api/stories/{DEMO_SLUG}").json()
    update = story["updates"][0]["id"]
    for path in (f"/stories/{DEMO_SLUG}", f"/stories/{DEMO_SLUG}/embed", "/",
                 f"/stories/{DEMO_SLUG}/updates/{update}", "/embed.js"):  # fmt: skip
        first = client.get(path)
        assert first.status_code == 200, path
        assert first.headers["cache-control"] == PUBLIC, path
        again = client.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert (again.status_code, again.content) == (304, b""), path
        assert client.get(path).content == first.content, path  # one render per version
    before = client.get(f"/stories/{DEMO_SLUG}").headers["etag"]
    post(client, demo[1].reporter, DEMO_SLUG, "<p>One more.</p>")
    assert client.get(f"/stories/{DEMO_SLUG}").headers["etag"] != before


def test_a_page_answered_before_routing_is_the_routed_answer(
    client: httpx.Client, demo: tuple[LiveServer, Tokens]
) -> None:
    post(client, demo[1].reporter, DEMO_SLUG, "<p>A new version.</p>")
    routed = client.get(f"/stories/{DEMO_SLUG}")  # renders this version
    ready = client.get(f"/stories/{DEMO_SLUG}")  # its kept render, before routing
    varying = {"date", "x-request-id"}
    assert ready.content == routed.content
    assert {k: v for k, v in ready.headers.items() if k not in varying} == {
        k: v for k, v in routed.headers.items() if k not in varying
    }


def test_static_files_are_kept_for_a_year_under_their_hash(client: httpx.Client) -> None:
    tree = page(client, f"/stories/{DEMO_SLUG}")
    module = next(n for n in tree.find_all("script") if n.attrs.get("type") == "module")
    src = module.attrs["src"]
    answer = client.get(src)
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.headers["content-type"].startswith("text/javascript")
    stale = client.get(re.sub(r"/static/[^/]+/", "/static/0123456789ab/", src))
    assert stale.content == answer.content
    assert stale.headers["cache-control"] == PUBLIC
    assert client.get("/static/0123456789ab/nothing.js").status_code == 404


def test_pages_set_their_own_policy_and_only_listed_sites_may_frame_the_embed(
    client: httpx.Client,
) -> None:
    policy = client.get(f"/stories/{DEMO_SLUG}").headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert policy.endswith("frame-ancestors 'none'")
    assert "script-src" not in policy  # no inline script, no other host
    embed = client.get(f"/stories/{DEMO_SLUG}/embed")
    assert embed.headers["content-security-policy"].endswith(f"frame-ancestors 'self' {ALLOWED}")
    tree = parse(embed.text)
    assert tree.by_id("story") is not None
    assert (tree.by_id("story") or tree).attrs.get("data-embed") == "true"
    assert not tree.find_all(cls="site-header")  # no site frame
    assert "data-liveblog" in client.get("/embed.js").text


def test_an_update_has_a_page_of_its_own(client: httpx.Client) -> None:
    story = client.get(f"/api/stories/{DEMO_SLUG}").json()
    update = next(u for u in story["updates"] if u["title"] and not u["pinned"])
    path = f"/stories/{DEMO_SLUG}/updates/{update['id']}"
    tree = page(client, path)
    canonical = next(n for n in tree.find_all("link") if n.attrs.get("rel") == "canonical")
    assert canonical.attrs["href"] == f"{client.base_url}".rstrip("/") + path
    assert meta(tree, "og:title") == update["title"]
    assert meta(tree, "og:url") == canonical.attrs["href"]
    assert meta(tree, "twitter:card") == "summary"
    assert meta(tree, "twitter:title") == update["title"]
    assert meta(tree, "article:published_time") == update["published_at"]
    shown = tree.by_id(f"update-{update['id']}")
    assert shown is not None
    assert shown.one("h3").text == update["title"]
    back = tree.one(cls="back").one("a")
    assert back.attrs["href"] == f"/stories/{DEMO_SLUG}#update-{update['id']}"


def test_the_front_page_lists_the_stories(client: httpx.Client) -> None:
    tree = page(client, "/")
    links = [a.attrs["href"] for a in tree.one("ul", cls="stories").find_all("a")]
    assert f"/stories/{DEMO_SLUG}" in links


@pytest.mark.parametrize(
    ("path", "status", "shown"),
    [
        (f"/stories/{DEMO_SLUG}?before=garbage", 422, "before"),
        (f"/stories/{DEMO_SLUG}?before=00000000-0000-4000-8000-000000000000", 422, "before"),
        (f"/stories/{DEMO_SLUG}?key_events=maybe", 422, "key_events"),
        (f"/stories/{DEMO_SLUG}?utm_source=x", 422, "utm_source"),
        (f"/stories/{DEMO_SLUG}/embed?x=1", 422, "'x'"),
        ("/stories/no-such-story", 404, "'no-such-story'"),
        ("/stories/%3Cscript%3Ealert(1)%3C%5Cscript%3E", 404, "'<script>alert(1)<\\\\script>'"),
        ("/stories/" + "a" * 5000, 404, "…"),
        ("/stories/%F0%9F%94%A5%20fire", 404, "🔥 fire"),
        (f"/stories/{DEMO_SLUG}/updates/not-an-id", 404, "'not-an-id'"),
        (f"/stories/{DEMO_SLUG}/updates/00000000-0000-4000-8000-000000000000", 404, "no update"),
        ("/stories/no-such-story/updates/00000000-0000-4000-8000-000000000000", 404, "story"),
        ("/?page=2", 422, "page"),
    ],
)
def test_hostile_addresses_get_a_clear_4xx_page(
    client: httpx.Client, path: str, status: int, shown: str
) -> None:
    answer = client.get(path, headers=HTML)
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html")
    assert "<script>alert" not in answer.text  # what the client sent is shown escaped
    message = parse(answer.text).one(cls="error").text
    assert shown in message, message
    assert len(answer.content) < 8000
    # A client that does not ask for HTML gets the API's JSON error.
    plain = client.get(path)
    assert plain.status_code == status
    assert plain.json()["error"]["message"]
