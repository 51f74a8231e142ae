"""The reader page in a real browser (Debian's Chromium through Playwright), against a
real server: it renders with no console error and no request to another host, every
change arrives in place without a reload, a reader who scrolled is not moved, an
offline spell loses and doubles nothing, it works with JavaScript off, and the embed
works only where it is allowed.

No timed assertions: each outcome is awaited for up to ``WAIT_MS``; the push latency is
printed (``-s``) for docs/benchmarks.md.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

from liveblog.demo import DEMO_SLUG
from tests.browser.conftest import ARTIFACTS, Demo, demo_server
from tests.e2e.server import BACKENDS, LiveServer, backend_url, free_port
from tests.helpers import auth, post

WAIT_MS = 10_000
PHONE: ViewportSize = {"width": 375, "height": 740}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
DOCS = Path(__file__).resolve().parents[2] / "docs"

# Records when each update's article enters the page (for the push latency).
SEEN_SCRIPT = """
window.__seen = {};
new MutationObserver((changes) => {
  for (const change of changes) for (const node of change.addedNodes) {
    if (node.id && node.id.startsWith("update-")) window.__seen[node.id] ??= Date.now();
  }
}).observe(document, { childList: true, subtree: true });
"""


@dataclass
class Watched:
    """A page, with what went wrong in it and every host it reached."""

    context: BrowserContext
    page: Page
    problems: list[str] = field(default_factory=list)
    hosts: set[str] = field(default_factory=set)
    console: list[str] = field(default_factory=list)

    def close_clean(self) -> None:
        """Close it, once it is sure nothing went wrong on the page."""
        assert self.problems == []
        self.context.close()


def open_page(browser: Browser, url: str, **options: Any) -> Watched:
    context = browser.new_context(**options)
    page = context.new_page()
    watched = Watched(context, page)
    page.add_init_script(SEEN_SCRIPT)
    page.on("console", lambda m: watched.console.append(m.text))
    page.on("console", lambda m: record_error(watched, m.type, m.text))
    page.on("pageerror", lambda error: watched.problems.append(str(error)))
    page.on("request", lambda r: watched.hosts.add(urlsplit(r.url).netloc))
    page.on("websocket", lambda socket: watched.hosts.add(urlsplit(socket.url).netloc))
    page.goto(url)
    return watched


def record_error(watched: Watched, kind: str, text: str) -> None:
    if kind == "error":
        watched.problems.append(text)


def wait_live(page: Page) -> None:
    page.wait_for_selector("#story[data-stream=live]", state="attached", timeout=WAIT_MS)


def wait_until(page: Page, expression: str) -> None:
    """Until ``expression`` is true in the page, for up to WAIT_MS. (Playwright's
    ``wait_for_function`` evaluates a string, which the pages' CSP rightly forbids.)"""
    deadline = time.monotonic() + WAIT_MS / 1000
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {WAIT_MS} ms: {expression}"
        page.wait_for_timeout(50)


def live_page(browser: Browser, url: str, **options: Any) -> tuple[Watched, Page]:
    """A page opened and live: its stream has caught up and is following the story."""
    watched = open_page(browser, url, **options)
    wait_live(watched.page)
    return watched, watched.page


def article_html(page: Page, update_id: str) -> str:
    html: str = page.eval_on_selector(f"#update-{update_id}", "e => e.outerHTML")
    return re.sub(r">\s+<", "><", html.strip())


def shown_ids(page: Page) -> list[str]:
    ids: list[str] = page.eval_on_selector_all("#updates > article", "all => all.map(a => a.id)")
    return ids


def client_of(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, timeout=30)


@pytest.fixture(params=BACKENDS)
def any_backend(
    request: pytest.FixtureRequest, tmp_path: Path, browser: Browser
) -> Iterator[Demo]:
    server, tokens = demo_server(tmp_path, backend_url(request, tmp_path))
    yield Demo(server, tokens, f"{server.base_url}/stories/{DEMO_SLUG}")
    server.stop()


def test_the_demo_story_renders_with_no_error_and_no_other_host(
    browser: Browser, demo: Demo
) -> None:
    server = demo.server
    watched, page = live_page(browser, demo.url, viewport=DESKTOP)
    assert page.inner_text("h1") == "Kyrgyzstan election protests"
    markup = orjson.loads(page.inner_text("script[type='application/ld+json']"))
    story = httpx.get(f"{server.base_url}/api/stories/{DEMO_SLUG}").json()
    assert markup["@type"] == "LiveBlogPosting"
    assert markup["headline"] == story["title"]
    assert len(markup["liveBlogUpdate"]) == len(story["updates"])
    # Times in the reader's time zone, not the server's UTC text.
    assert "UTC" not in page.inner_text("#updates time >> nth=0")
    assert watched.problems == []
    assert watched.hosts == {urlsplit(server.base_url).netloc}
    # Screenshots, at a phone's width and a desktop's, as artifacts of the run.
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        shot = browser.new_context(viewport=viewport, timezone_id="Asia/Bishkek",
                                   device_scale_factor=1)  # fmt: skip
        shown = shot.new_page()
        shown.goto(demo.url)
        wait_live(shown)
        shown.screenshot(path=str(ARTIFACTS / f"reader-{name}.png"))
        shot.close()
        if os.environ.get("LIVEBLOG_UPDATE_SCREENSHOTS"):  # the two shown in the README
            shutil.copyfile(ARTIFACTS / f"reader-{name}.png", DOCS / f"reader-{name}.png")
    watched.context.close()


def test_changes_arrive_in_place_without_a_reload(browser: Browser, any_backend: Demo) -> None:
    server, tokens = any_backend.server, any_backend.tokens
    watched, page = live_page(browser, any_backend.url, viewport=DESKTOP)
    with client_of(server) as client:
        sent = time.time()
        update = post(client, tokens.reporter, DEMO_SLUG, "<p>Crowds <b>gather</b> again.</p>",
                      title="Evening <rally> & march")  # fmt: skip
        page.wait_for_selector(f"#update-{update['id']}", timeout=WAIT_MS)
        seen = page.evaluate(f"window.__seen['update-{update['id']}']")
        print(f"\npush latency (POST sent → article on the page): {seen - sent * 1000:.0f} ms")
        assert shown_ids(page)[0] == f"update-{update['id']}"
        assert page.inner_text(f"#update-{update['id']} h3") == "Evening <rally> & march"
        live_html = article_html(page, update["id"])

        # The same markup as the server renders it.
        page.reload()
        wait_live(page)
        assert article_html(page, update["id"]) == live_html

        editor = auth(tokens.editor)
        fix = {"body": "<p>Crowds gather <i>near</i> the square.</p>", "note": "Place <named>"}
        path = f"/api/stories/{DEMO_SLUG}/updates/{update['id']}"
        assert client.post(f"{path}/corrections", json=fix, headers=editor).is_success
        article = f"#update-{update['id']}"
        page.wait_for_selector(f"{article} .notes", timeout=WAIT_MS)
        assert page.inner_text(f"{article} .notes").endswith("— Place <named>")
        assert page.inner_text(f"{article} .body") == "Crowds gather near the square."

        gone = {"reason": "Could not <verify>"}
        assert client.post(f"{path}/retraction", json=gone, headers=editor).is_success
        page.wait_for_selector(f"{article}.retracted", timeout=WAIT_MS)
        tombstone = page.inner_text(f"{article} .tombstone")
        assert tombstone == "This update was retracted: Could not <verify>"
        assert "Crowds" not in page.inner_text(article)

        retitled = client.patch(f"/api/stories/{DEMO_SLUG}", json={"title": "Bishkek <live>"},
                                headers=editor)  # fmt: skip
        assert retitled.is_success
        wait_until(page, "document.querySelector('h1').textContent === 'Bishkek <live>'")
        assert page.title().startswith("Bishkek <live>")

        key = post(client, tokens.reporter, DEMO_SLUG, "<p>Curfew.</p>", title="Curfew")
        flag = client.patch(f"/api/stories/{DEMO_SLUG}/updates/{key['id']}",
                            json={"pinned": True, "key_event": True}, headers=editor)  # fmt: skip
        assert flag.is_success
        page.wait_for_selector(f"#pinned-{key['id']}", timeout=WAIT_MS)
        assert page.inner_text("#key-events-list li >> nth=0").startswith("Curfew")

        assert client.post(f"/api/stories/{DEMO_SLUG}/close", headers=editor).is_success
        page.wait_for_selector(".ended", timeout=WAIT_MS)
    watched.close_clean()


def test_a_reader_who_scrolled_down_gets_a_button_and_is_not_moved(
    browser: Browser, demo: Demo
) -> None:
    server, tokens = demo.server, demo.tokens
    watched, page = live_page(browser, demo.url, viewport=PHONE)
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    where = page.evaluate("window.scrollY")
    assert where > 1000
    with client_of(server) as client:
        update = post(client, tokens.reporter, DEMO_SLUG, "<p>Shots heard.</p>")
    button = page.wait_for_selector("#new-updates:not([hidden])", timeout=WAIT_MS)
    assert button is not None
    assert button.inner_text() == "1 new update"
    assert page.evaluate("window.scrollY") == where
    assert page.query_selector(f"#update-{update['id']}") is None
    button.click()  # reachable by keyboard too: a <button>
    page.wait_for_selector(f"#update-{update['id']}", timeout=WAIT_MS)
    assert page.evaluate("document.activeElement.id") == f"update-{update['id']}"
    assert page.is_hidden("#new-updates")
    watched.close_clean()


def test_an_offline_spell_loses_nothing_and_doubles_nothing(browser: Browser, demo: Demo) -> None:
    server, tokens = demo.server, demo.tokens
    watched, page = live_page(browser, demo.url, viewport=DESKTOP)
    watched.context.set_offline(True)
    # The page knows it is offline, drops its stream and waits to be back online.
    page.wait_for_selector("#story[data-stream=waiting]", state="attached", timeout=WAIT_MS)
    with client_of(server) as client:
        posted = [post(client, tokens.reporter, DEMO_SLUG, f"<p>Offline {n}.</p>")["id"]
                  for n in range(3)]  # fmt: skip
    watched.context.set_offline(False)
    wait_live(page)  # resumed with since= the version it had
    for update_id in posted:
        page.wait_for_selector(f"#update-{update_id}", timeout=WAIT_MS)
    ids = shown_ids(page)
    for update_id in posted:
        assert ids.count(f"update-{update_id}") == 1
    assert ids[:3] == [f"update-{u}" for u in reversed(posted)]
    # One failed connection attempt while offline is the browser's to report; anything
    # else would be ours.
    assert [p for p in watched.problems if "ERR_INTERNET_DISCONNECTED" not in p] == []
    watched.context.close()


def test_the_page_and_older_updates_work_without_javascript(browser: Browser, demo: Demo) -> None:
    server, tokens = demo.server, demo.tokens
    with client_of(server) as client:
        for n in range(10):
            post(client, tokens.reporter, DEMO_SLUG, f"<p>More {n}.</p>")
        story = client.get(f"/api/stories/{DEMO_SLUG}").json()
    watched = open_page(browser, demo.url, java_script_enabled=False, viewport=PHONE)
    page = watched.page
    assert page.inner_text("h1") == "Kyrgyzstan election protests"
    assert len(shown_ids(page)) == 20
    page.click("#older")
    page.wait_for_url(re.compile(r"\?before="), timeout=WAIT_MS)
    older = shown_ids(page)
    assert older
    assert f"update-{story['updates'][-1]['id']}" not in older  # the next page, not this one
    watched.context.close()
    # With JavaScript, the same link loads the older updates in place.
    live = open_page(browser, demo.url, viewport=PHONE)
    wait_live(live.page)
    live.page.click("#older")
    wait_until(live.page, "document.querySelectorAll('#updates > article').length > 20")
    assert live.page.url == demo.url
    assert shown_ids(live.page)[20:] == older
    live.close_clean()


def host_site(port: int, embed_of: str) -> ThreadingHTTPServer:
    """Another site (a second local port) whose page embeds the story with embed.js."""
    html = (
        f'<!doctype html><title>Host</title><link rel="icon" href="data:,"><h1>Elsewhere</h1>'
        f'<div data-liveblog="{DEMO_SLUG}"></div><script src="{embed_of}/embed.js"></script>'
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *_: Any) -> None:
            pass

    site = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    return site


@contextmanager
def hosting(port: int, embed_of: str) -> Iterator[str]:
    site = host_site(port, embed_of)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        site.shutdown()
        site.server_close()


def test_the_embed_works_on_an_allowed_site_and_is_refused_on_another(
    browser: Browser, tmp_path: Path
) -> None:
    allowed_port = free_port()
    allowed = f"http://127.0.0.1:{allowed_port}"
    server, tokens = demo_server(tmp_path, LIVEBLOG_ALLOWED_ORIGINS=allowed)
    try:
        with hosting(free_port(), server.base_url) as elsewhere:
            refused = open_page(browser, elsewhere)
            # The browser itself refuses to show the frame (CSP frame-ancestors).
            deadline = time.monotonic() + WAIT_MS / 1000
            while time.monotonic() < deadline and not any(
                "frame-ancestors" in line for line in refused.console
            ):
                refused.page.wait_for_timeout(100)
            assert any("frame-ancestors" in line for line in refused.console), refused.console
            assert all(f.query_selector("#story") is None for f in refused.page.frames)
            refused.context.close()
        with hosting(allowed_port, server.base_url) as site:
            shown = open_page(browser, site, viewport=DESKTOP)
            frame = shown.page.frame_locator("iframe")
            frame.locator("#story[data-stream=live]").wait_for(state="attached", timeout=WAIT_MS)
            with client_of(server) as client:
                update = post(client, tokens.reporter, DEMO_SLUG, "<p>Seen elsewhere.</p>")
            frame.locator(f"#update-{update['id']}").wait_for(timeout=WAIT_MS)
            # Sized to its content by embed.js, from the embedded page's messages.
            frame_height = "document.querySelector('iframe').getBoundingClientRect().height"
            wait_until(shown.page, f"{frame_height} > 1000")
            shown.close_clean()
    finally:
        server.stop()


# A network that breaks WebSockets (a proxy that does not pass them): every socket the
# page opens fails before it opens. Counted, so the test knows the page tried.
NO_WEBSOCKETS = """
window.__sockets = 0;
window.WebSocket = class BrokenSocket {
  constructor() {
    window.__sockets += 1;
    setTimeout(() => this.onclose && this.onclose({ code: 1006 }), 0);
  }
  close() {}
};
"""


def test_without_websockets_the_page_follows_every_event_over_sse(
    browser: Browser, demo: Demo
) -> None:
    server, tokens = demo.server, demo.tokens
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.add_init_script(NO_WEBSOCKETS)
    page.goto(demo.url)
    wait_live(page)  # live over Server-Sent Events, after two failed sockets
    assert page.evaluate("window.__sockets") >= 2
    editor = auth(tokens.editor)
    story = f"/api/stories/{DEMO_SLUG}"
    with client_of(server) as client:
        update = post(client, tokens.reporter, DEMO_SLUG, "<p>Over SSE.</p>", title="SSE")
        article = f"#update-{update['id']}"
        page.wait_for_selector(article, timeout=WAIT_MS)
        path = f"{story}/updates/{update['id']}"
        assert client.post(f"{path}/retraction", json={"reason": "r"}, headers=editor).is_success
        page.wait_for_selector(f"{article}.retracted", timeout=WAIT_MS)
        back = client.post(f"{path}/reinstatement", json={"reason": "ok"}, headers=editor)
        assert back.is_success
        wait_until(page, f"!document.querySelector('{article}').matches('.retracted')")
        assert page.inner_text(f"{article} .body") == "Over SSE."
        assert client.patch(path, json={"pinned": True}, headers=editor).is_success
        page.wait_for_selector(f"#pinned-{update['id']}", timeout=WAIT_MS)
        assert client.patch(path, json={"pinned": False}, headers=editor).is_success
        page.wait_for_selector(f"#pinned-{update['id']}", state="detached", timeout=WAIT_MS)
        summary = client.patch(story, json={"summary": "Now <over> SSE"}, headers=editor)
        assert summary.is_success
        wait_until(page, "document.querySelector('#story-summary').textContent"
                         " === 'Now <over> SSE'")  # fmt: skip
        assert client.post(f"{story}/close", headers=editor).is_success
        page.wait_for_selector(".ended", timeout=WAIT_MS)
        assert client.post(f"{story}/reopen", headers=editor).is_success
        page.wait_for_selector(".live-badge", timeout=WAIT_MS)
    assert problems == []
    context.close()


def test_a_resume_too_far_back_gets_a_reset_snapshot_and_shows_each_update_once(
    browser: Browser, tmp_path: Path
) -> None:
    # A server that reads at most 2 events of backlog from the store: a reader 4 behind
    # after a restart gets a reset snapshot, which the page renders in place.
    server, tokens = demo_server(tmp_path, LIVEBLOG_MAX_BACKLOG="2")
    try:
        watched, page = live_page(browser, f"{server.base_url}/stories/{DEMO_SLUG}",
                                  viewport=DESKTOP)  # fmt: skip
        frames: list[str] = []
        page.on("websocket", lambda socket: socket.on(
            "framereceived", lambda payload: frames.append(str(payload))
        ))  # fmt: skip
        watched.context.set_offline(True)
        page.wait_for_selector("#story[data-stream=waiting]", state="attached", timeout=WAIT_MS)
        with client_of(server) as client:
            posted = [post(client, tokens.reporter, DEMO_SLUG, f"<p>Reset {n}.</p>")["id"]
                      for n in range(4)]  # fmt: skip
            version = client.get(f"/api/stories/{DEMO_SLUG}").json()["version"]
        # A restart empties the ring of recent frames, so the resume must come from the
        # store, which serves no more than LIVEBLOG_MAX_BACKLOG events: a reset.
        server.stop()
        server.start()
        watched.context.set_offline(False)
        wait_live(page)
        for update_id in posted:
            page.wait_for_selector(f"#update-{update_id}", timeout=WAIT_MS)
        ids = shown_ids(page)
        assert ids[:4] == [f"update-{u}" for u in reversed(posted)]
        assert len(ids) == len(set(ids))
        resets = [f for f in frames if '"reset":true' in f.replace(" ", "")]
        assert len(resets) == 1
        assert f'"version":{version}' in resets[0].replace(" ", "")
        assert [p for p in watched.problems if "ERR_INTERNET_DISCONNECTED" not in p] == []
        watched.context.close()
    finally:
        server.stop()


def test_media_arrive_live_as_the_server_renders_them_and_embeds_fetch_nothing(
    browser: Browser, demo: Demo
) -> None:
    server, tokens = demo.server, demo.tokens
    watched, page = live_page(browser, demo.url, viewport=DESKTOP)
    with client_of(server) as client:
        media = [{"type": "embed", "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}]
        update = post(client, tokens.reporter, DEMO_SLUG, "<p>Video of the march.</p>",
                      media=media)  # fmt: skip
        article = f"#update-{update['id']}"
        page.wait_for_selector(f"{article} .media.embed a", timeout=WAIT_MS)
        assert page.inner_text(f"{article} .media.embed a") == "Open this post on YouTube"
        live_html = article_html(page, update["id"])
        page.reload()
        wait_live(page)
        assert article_html(page, update["id"]) == live_html
        assert "youtube.com" not in " ".join(watched.hosts)
        assert not page.query_selector("iframe")
        watched.close_clean()
        # An image is rendered with its alt text and caption (read over HTTP, with no page
        # open: a browser would fetch it from its host, which these tests never reach).
        image = {
            "type": "image",
            "url": "https://images.example/march.jpg",
            "alt": "Marchers <on> the avenue",
            "caption": "Evening",
            "credit": "AKIpress",
        }
        pictured = post(client, tokens.reporter, DEMO_SLUG, "<p>Photo.</p>", media=[image])
        html = client.get(f"/stories/{DEMO_SLUG}").text
    assert 'alt="Marchers &lt;on&gt; the avenue"' in html
    assert f'id="update-{pictured["id"]}"' in html
    assert "<figcaption>" in html
