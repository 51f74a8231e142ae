"""The newsroom console (``GET /newsroom``) in Debian's Chromium, end to end against a
real server: a contributor's draft published by an editor reaches an open reader page;
a post made offline is sent once, with its author's name; two editors correcting one
update see the conflict and resolve it; an editor travels back with the slider, reverts
and reinstates while a reader page follows; a revoked token is signed out; the replay
plays. No console error, no other host, and the token in no URL but the replay's.

No timed assertions: each outcome is awaited for up to ``WAIT_MS``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, ViewportSize

from liveblog.demo import DEMO_SLUG
from tests.browser.conftest import ARTIFACTS, demo_server
from tests.e2e.server import LiveServer
from tests.helpers import Tokens, auth, bearer, issue_token, post

WAIT_MS = 10_000
PHONE: ViewportSize = {"width": 375, "height": 740}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
DOCS = Path(__file__).resolve().parents[2] / "docs"
# What the browser itself reports while it is offline, or when a test cuts an answer.
# What the browser reports of the network, not of the pages: the tests cut it, and their
# images are on a host that does not exist (images.example), whose load fails whenever
# it happens, before or after a test looks (no other host is checked by its own test).
BROWSER_NOISE = (
    "ERR_INTERNET_DISCONNECTED", "ERR_FAILED", "WebSocket connection to", "ERR_NAME_NOT_RESOLVED",
)  # fmt: skip


@dataclass(frozen=True)
class Newsroom:
    server: LiveServer
    tokens: Tokens
    contributor: str
    second_editor: str
    admin: str

    @property
    def reader_url(self) -> str:
        return f"{self.server.base_url}/stories/{DEMO_SLUG}"

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.base_url, timeout=30)


@pytest.fixture
def newsroom(tmp_path: Path, browser: Browser) -> Iterator[Newsroom]:
    server, tokens = demo_server(tmp_path)
    url = server.database_url
    yield Newsroom(
        server, tokens,
        contributor=issue_token(url, "Chidi Contributor", "contributor"),
        second_editor=issue_token(url, "Eva Editor", "editor"),
        admin=issue_token(url, "Ada Admin", "admin"),
    )  # fmt: skip
    server.stop()


@dataclass
class Tab:
    """A browser context with one page, and what went wrong in it."""

    page: Page
    problems: list[str]
    hosts: set[str]
    urls: list[str]

    def close_clean(self) -> None:
        assert [p for p in self.problems if not any(n in p for n in BROWSER_NOISE)] == []
        self.page.context.close()


def open_tab(browser: Browser, url: str, viewport: ViewportSize = DESKTOP) -> Tab:
    # UTC: the times a test types into the console's time fields are the API's.
    context = browser.new_context(viewport=viewport, timezone_id="UTC")
    page = context.new_page()
    tab = Tab(page, [], set(), [])

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            tab.problems.append(message.text)

    def reached(url: str) -> None:
        tab.hosts.add(urlsplit(url).netloc)
        tab.urls.append(url)

    page.on("console", console)
    page.on("pageerror", lambda error: tab.problems.append(str(error)))
    page.on("request", lambda request: reached(request.url))
    page.on("websocket", lambda socket: reached(socket.url))
    page.goto(url)
    return tab


def wait_until(page: Page, expression: str) -> None:
    """Until ``expression`` is true in the page (polled: the CSP forbids eval)."""
    for _ in range(WAIT_MS // 50):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"still false after {WAIT_MS} ms: {expression}")


def signed_in(browser: Browser, room: Newsroom, token: str, viewport: ViewportSize = DESKTOP,
              story: str | None = DEMO_SLUG) -> Tab:  # fmt: skip
    """The console, signed in by pasting ``token``, with ``story`` open and live."""
    tab = open_tab(browser, f"{room.server.base_url}/newsroom", viewport)
    page = tab.page
    page.fill("#token-input", token)
    page.press("#token-input", "Enter")
    page.wait_for_selector("#who:not([hidden])", timeout=WAIT_MS)
    if story is not None:
        page.click(f"button[data-slug='{story}']")
        page.wait_for_selector("#story-view[data-stream=live]", state="attached", timeout=WAIT_MS)
    return tab


def composing(browser: Browser, room: Newsroom, token: str, body: str) -> tuple[Tab, Page]:
    """The console signed in with ``token``, the demo story open, ``body`` written."""
    tab = signed_in(browser, room, token)
    tab.page.fill("#c-body", body)
    return tab, tab.page


def reader(browser: Browser, room: Newsroom) -> Tab:
    tab = open_tab(browser, room.reader_url)
    tab.page.wait_for_selector("#story[data-stream=live]", state="attached", timeout=WAIT_MS)
    return tab


def updates_now(room: Newsroom) -> list[dict[str, Any]]:
    with room.http() as client:
        updates: list[dict[str, Any]] = client.get(f"/api/stories/{DEMO_SLUG}").json()["updates"]
    return updates


def test_a_contributors_draft_is_published_by_an_editor_and_reaches_readers(
    browser: Browser, newsroom: Newsroom
) -> None:
    readers = reader(browser, newsroom)
    stringer = signed_in(browser, newsroom, newsroom.contributor, PHONE)
    page = stringer.page
    assert page.inner_text("#who-name") == "Chidi Contributor"
    assert page.is_hidden("#c-post")  # a contributor drafts; posting is not theirs
    assert page.is_hidden("#history-section")
    page.fill("#c-title", "From the <square>")
    page.fill("#c-body", "<p>Crowds <b>gather</b> at Ala-Too.</p>")
    page.click("#c-submit")
    page.wait_for_selector("#drafts .draft:has-text('submitted')", timeout=WAIT_MS)

    desk = signed_in(browser, newsroom, newsroom.tokens.editor)
    desk.page.wait_for_selector("#drafts .draft:has-text('Crowds gather')", timeout=WAIT_MS)
    desk.page.click("#drafts .draft:has-text('Crowds gather') button[data-draft=publish]")
    readers.page.wait_for_selector("#updates article:has-text('Crowds gather at Ala-Too')",
                                   timeout=WAIT_MS)  # fmt: skip
    newest = updates_now(newsroom)[0]
    assert newest["title"] == "From the <square>"
    assert newest["author"]["name"] == "Chidi Contributor"
    assert newest["approved_by"]["name"] == "Erin Editor"
    desk.page.wait_for_selector(f"#tl-{newest['id']}", timeout=WAIT_MS)
    for tab in (readers, stringer, desk):
        tab.close_clean()


def test_a_post_made_offline_is_sent_once_when_the_network_is_back(
    browser: Browser, newsroom: Newsroom
) -> None:
    tab = signed_in(browser, newsroom, newsroom.tokens.reporter, PHONE)
    page = tab.page
    before = len(updates_now(newsroom))
    page.context.set_offline(True)
    page.fill("#c-body", "<p>Shots heard near the White House.</p>")
    page.press("#c-body", "Control+Enter")
    page.wait_for_selector("#outbox .sending", timeout=WAIT_MS)
    assert page.evaluate("JSON.parse(localStorage.getItem('liveblog.outbox')).length") == 1
    page.context.set_offline(False)
    page.wait_for_selector("#outbox .sending", state="detached", timeout=WAIT_MS)
    sent = [u for u in updates_now(newsroom) if "Shots heard" in u["body"]]
    assert len(sent) == 1
    assert sent[0]["author"]["name"] == "Rashid Reporter"

    # An answer lost on the way back: the server made the update, the browser never saw
    # it. The console sends it again with the same Idempotency-Key: still one update.
    cut: list[str] = []

    def lose_answer(route: Route) -> None:
        if route.request.method == "POST" and not cut:
            cut.append(route.request.headers["idempotency-key"])
            route.fetch()  # the server gets it and answers...
            route.abort()  # ...and the answer is lost
        else:
            route.continue_()

    page.route("**/api/stories/*/updates", lose_answer)
    page.fill("#c-body", "<p>Parliament building on fire.</p>")
    page.click("#c-post")
    page.wait_for_selector(f"#tl-{sent[0]['id']}", timeout=WAIT_MS)
    page.wait_for_selector("#outbox .sending", state="detached", timeout=WAIT_MS)
    fire = [u for u in updates_now(newsroom) if "Parliament building" in u["body"]]
    assert len(fire) == 1
    assert cut
    assert len(updates_now(newsroom)) == before + 2
    page.wait_for_selector(f"#tl-{fire[0]['id']}", timeout=WAIT_MS)
    tab.close_clean()


def correct_in(tab: Tab, update_id: str, body: str, note: str) -> None:
    page = tab.page
    page.click(f"#tl-{update_id} button[data-action=correct]")
    page.fill(f"#fx-body-{update_id}", body)
    page.fill(f"#fx-note-{update_id}", note)
    page.click(f"#tl-{update_id} .tl-work button[type=submit]")


def test_two_editors_correcting_one_update_see_the_conflict_and_resolve_it(
    browser: Browser, newsroom: Newsroom
) -> None:
    with newsroom.http() as client:
        update = post(client, newsroom.tokens.reporter, DEMO_SLUG, "<p>Ten injured.</p>")
    first = signed_in(browser, newsroom, newsroom.tokens.editor)
    second = signed_in(browser, newsroom, newsroom.second_editor)
    uid = update["id"]
    for tab in (first, second):
        tab.page.wait_for_selector(f"#tl-{uid}", timeout=WAIT_MS)
    second.page.click(f"#tl-{uid} button[data-action=correct]")  # opened before the first saves
    correct_in(first, uid, "<p>Twelve injured.</p>", "Ministry figure")
    first.page.wait_for_selector(f"#tl-{uid} .notes:has-text('Ministry figure')", timeout=WAIT_MS)

    page = second.page
    page.fill(f"#fx-body-{uid}", "<p>Eleven injured.</p>")
    page.fill(f"#fx-note-{uid}", "Hospital figure")
    page.click(f"#tl-{uid} .tl-work button[type=submit]")
    conflict = page.wait_for_selector(f"#tl-{uid} .conflict:not([hidden])", timeout=WAIT_MS)
    assert conflict is not None
    assert "Erin Editor corrected this first" in conflict.inner_text()
    assert "Twelve injured." in conflict.inner_text()
    assert page.input_value(f"#fx-body-{uid}") == "<p>Eleven injured.</p>"  # theirs kept
    page.fill(f"#fx-body-{uid}", "<p>Twelve injured, one of them critically.</p>")
    page.click(f"#tl-{uid} .tl-work button[type=submit]")
    page.wait_for_selector(f"#tl-{uid} .notes:has-text('Hospital figure')", timeout=WAIT_MS)

    # Both revisions are in the history, each with its note and diff.
    page.click(f"#tl-{uid} button[data-action=revisions]")
    page.wait_for_selector(f"#tl-{uid} .revisions li[data-revision='3']", timeout=WAIT_MS)
    listed = page.inner_text(f"#tl-{uid} .revisions")
    assert "Ministry figure" in listed
    assert "Hospital figure" in listed
    assert page.query_selector(f"#tl-{uid} .revisions li[data-revision='3'] ins") is not None
    with newsroom.http() as client:
        path = f"/api/stories/{DEMO_SLUG}/updates/{uid}/revisions"
        revisions = client.get(path, headers=bearer(newsroom.tokens.editor)).json()["revisions"]
    assert [r["by"]["name"] for r in revisions[1:]] == ["Erin Editor", "Eva Editor"]
    # The 409 the server answered the second editor, logged by the browser; nothing else.
    second.problems[:] = [p for p in second.problems if "409 (Conflict)" not in p]
    first.close_clean()
    second.close_clean()


def test_an_editor_travels_back_reverts_and_reinstates_while_readers_follow(
    browser: Browser, newsroom: Newsroom
) -> None:
    editor = newsroom.tokens.editor
    with newsroom.http() as client:
        update = post(client, newsroom.tokens.reporter, DEMO_SLUG, "<p>Curfew from 20:00.</p>")
        uid = update["id"]
        path = f"/api/stories/{DEMO_SLUG}/updates/{uid}"
        bad = {"body": "<p>Curfew from 02:00.</p>", "note": "Time fixed"}
        assert client.post(f"{path}/corrections", json=bad, headers=auth(editor)).is_success
    readers = reader(browser, newsroom)
    desk = signed_in(browser, newsroom, editor)
    page = desk.page
    article = f"#updates #update-{uid} .body"
    assert readers.page.inner_text(article) == "Curfew from 02:00."

    # The slider, by keyboard: one version back, the story as readers saw it then.
    wait_until(page, "document.querySelector('#then').dataset.version !== undefined")
    page.focus("#at-slider")
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector(f"#then #then-{uid}:has-text('Curfew from 20:00.')", timeout=WAIT_MS)
    assert "Curfew from 02:00." in page.inner_text(f"#now #now-{uid}")

    # Revert the bad correction: revision 1 again.
    page.click(f"#tl-{uid} button[data-action=revisions]")
    page.fill(f"#rv-{uid}-1", "Back to the ministry's time")
    page.click(f"#tl-{uid} button[data-action=revert][data-to='1']")
    readers.page.wait_for_selector(f"{article}:has-text('Curfew from 20:00.')", timeout=WAIT_MS)

    # A wrong retraction, reinstated from the console.
    with newsroom.http() as client:
        gone = client.post(f"{path}/retraction", json={"reason": "Unverified"},
                           headers=auth(editor))  # fmt: skip
        assert gone.is_success
    readers.page.wait_for_selector(f"#update-{uid}.retracted", timeout=WAIT_MS)
    page.click(f"#tl-{uid} button[data-action=reinstate]", timeout=WAIT_MS)
    page.fill(f"#rs-{uid}", "Confirmed by the ministry")
    page.click(f"#tl-{uid} .tl-work button[type=submit]")
    readers.page.wait_for_selector(f"{article}:has-text('Curfew from 20:00.')", timeout=WAIT_MS)
    readers.close_clean()
    desk.close_clean()


def test_a_revoked_token_is_signed_out_at_its_next_request(
    browser: Browser, newsroom: Newsroom
) -> None:
    tab = signed_in(browser, newsroom, newsroom.tokens.reporter)
    admin = signed_in(browser, newsroom, newsroom.admin, story=None)
    admin.page.wait_for_selector("#tokens li:has-text('Rashid Reporter') button[data-revoke]",
                                 timeout=WAIT_MS)  # fmt: skip
    admin.page.click("#tokens li:has-text('Rashid Reporter') button[data-revoke]")
    admin.page.wait_for_selector("#tokens li:has-text('Rashid Reporter'):has-text('revoked')",
                                 timeout=WAIT_MS)  # fmt: skip
    page = tab.page
    page.fill("#c-body", "<p>After the revocation.</p>")
    page.click("#c-post")
    page.wait_for_selector("#signin:not([hidden])", timeout=WAIT_MS)
    assert "signed out" in page.inner_text("#notice")
    assert page.evaluate("sessionStorage.getItem('liveblog.token')") is None
    assert page.is_hidden("#console")
    # A 401 on the way back is the server's answer, logged by the browser; nothing else.
    tab.problems[:] = [p for p in tab.problems if "401" not in p]
    tab.close_clean()
    admin.close_clean()


def test_the_console_shows_no_error_reaches_no_other_host_and_keeps_the_token_out_of_urls(
    browser: Browser, newsroom: Newsroom
) -> None:
    tab, page = composing(browser, newsroom, newsroom.tokens.editor,
                          "<p>Preview <script>alert(1)</script>me</p>")  # fmt: skip
    page.click("#c-preview")
    page.wait_for_selector("#warnings li:has-text('script')", timeout=WAIT_MS)
    assert page.inner_text("#preview .body") == "Preview me"
    page.select_option("#replay-speed", "max")
    page.click("#replay-play")
    page.wait_for_selector("#replay[data-state=ended]", state="attached", timeout=WAIT_MS)
    assert page.query_selector("#replay li") is not None
    token = newsroom.tokens.editor
    assert [u for u in tab.urls if token in u and "replay=" not in u] == []
    assert tab.hosts == {urlsplit(newsroom.server.base_url).netloc}
    assert token not in newsroom.server.log_path.read_text()
    # The token stays in this tab: kept across a reload, in no other storage.
    page.reload()
    page.wait_for_selector("#who:not([hidden])", timeout=WAIT_MS)
    assert page.evaluate("JSON.stringify(localStorage)").find(token) == -1
    # The whole story, page by page: "Older updates" until there are none.
    with newsroom.http() as client:
        for n in range(25):
            post(client, newsroom.tokens.reporter, DEMO_SLUG, f"<p>Brief {n}.</p>")
        everything = client.get(f"/api/stories/{DEMO_SLUG}/updates?limit=100").json()["updates"]
    page.click(f"button[data-slug='{DEMO_SLUG}']")
    page.wait_for_selector("#story-view[data-stream=live]", state="attached", timeout=WAIT_MS)
    count = "document.querySelectorAll('#timeline .tl-item').length"
    while page.is_visible("#older"):
        shown = page.evaluate(count)
        page.click("#older")
        wait_until(page, f"{count} > {shown}")
    assert page.evaluate(count) == len(everything)
    tab.close_clean()


def test_screenshots_at_a_phone_and_a_desktop_width(browser: Browser, newsroom: Newsroom) -> None:
    token = newsroom.tokens.editor
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        shot = signed_in(browser, newsroom, token, viewport)
        shot.page.screenshot(path=str(ARTIFACTS / f"newsroom-{name}.png"))
        shot.close_clean()
        if os.environ.get("LIVEBLOG_UPDATE_SCREENSHOTS"):  # the two shown in the README
            shutil.copyfile(ARTIFACTS / f"newsroom-{name}.png", DOCS / f"newsroom-{name}.png")


def tab_to(page: Page, selector: str, presses: int = 40) -> None:
    """Press Tab until ``selector`` has the focus: it is reachable by keyboard alone."""
    for _ in range(presses):
        if page.evaluate(f"document.activeElement?.matches({selector!r}) === true"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} not reached in {presses} presses of Tab")


def test_a_reporter_signs_in_and_posts_by_keyboard_alone(
    browser: Browser, newsroom: Newsroom
) -> None:
    tab = open_tab(browser, f"{newsroom.server.base_url}/newsroom", PHONE)
    page = tab.page
    tab_to(page, "#token-input")
    page.keyboard.type(newsroom.tokens.reporter)
    page.keyboard.press("Enter")
    page.wait_for_selector("#who:not([hidden])", timeout=WAIT_MS)
    tab_to(page, f"button[data-slug='{DEMO_SLUG}']")
    page.keyboard.press("Enter")
    page.wait_for_selector("#story-view[data-stream=live]", state="attached", timeout=WAIT_MS)
    tab_to(page, "#c-body")
    page.keyboard.type("<p>Typed with no mouse.</p>")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#timeline .tl-item:has-text('Typed with no mouse.')", timeout=WAIT_MS)
    sent = [u for u in updates_now(newsroom) if "Typed with no mouse." in u["body"]]
    assert [u["author"]["name"] for u in sent] == ["Rashid Reporter"]
    tab_to(page, f"#tl-{sent[0]['id']} button[data-action=correct]")
    label = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert label.startswith("Correct: Typed with no mouse.")
    tab.close_clean()


def test_an_editor_opens_edits_and_closes_a_story_and_filters_its_history(
    browser: Browser, newsroom: Newsroom
) -> None:
    tab = signed_in(browser, newsroom, newsroom.tokens.editor, story=None)
    page = tab.page
    page.click("#new-story summary")
    page.fill("#ns-title", "Osh <curfew> & night")
    page.fill("#ns-slug", "osh-curfew")
    page.fill("#ns-summary", "Night curfew in Osh.")
    page.click("#new-story-form button[type=submit]")
    page.wait_for_selector("#story-view[data-stream=live]", state="attached", timeout=WAIT_MS)
    assert page.inner_text("#story-title") == "Osh <curfew> & night"
    page.click("#story-settings summary")
    page.fill("#s-title", "Osh curfew")
    page.click("#story-form button[type=submit]")
    wait_until(page, "document.querySelector('#story-title').textContent === 'Osh curfew'")
    page.click("#close-story")
    wait_until(page, "document.querySelector('#story-status').textContent === 'Closed'")
    page.click("#close-story")  # now "Reopen coverage"
    wait_until(page, "document.querySelector('#story-status').textContent === 'Live'")
    with newsroom.http() as client:
        story = client.get("/api/stories/osh-curfew").json()
    assert (story["title"], story["status"]) == ("Osh curfew", "live")

    page.select_option("#h-type", "story.updated")
    page.click("#history-filters button[type=submit]")
    page.wait_for_selector("#events li", timeout=WAIT_MS)
    shown = page.eval_on_selector_all("#events li", "all => all.map(li => li.textContent)")
    assert len(shown) == 1
    assert "story.updated" in shown[0]
    assert "Erin Editor" in shown[0]
    tab.close_clean()


def test_an_editor_schedules_unschedules_and_discards_a_draft(
    browser: Browser, newsroom: Newsroom
) -> None:
    stringer = signed_in(browser, newsroom, newsroom.contributor)
    stringer.page.fill("#c-body", "<p>Convoy seen on the Osh road.</p>")
    stringer.page.click("#c-submit")
    stringer.page.wait_for_selector("#drafts .draft:has-text('submitted')", timeout=WAIT_MS)
    tab = signed_in(browser, newsroom, newsroom.tokens.editor)
    page = tab.page
    draft = "#drafts .draft:has-text('Convoy seen')"
    page.wait_for_selector(draft, timeout=WAIT_MS)
    page.click(f"{draft} button[data-draft=edit]")
    page.fill(f"{draft} .draft-work textarea", "<p>Convoy seen, heading north.</p>")
    page.click(f"{draft} .draft-work button[type=submit]")
    page.wait_for_selector(f"{draft} .body:has-text('heading north')", timeout=WAIT_MS)
    page.fill(f"{draft} input[type=datetime-local]", "2099-01-01T10:00")
    page.click(f"{draft} button[data-draft=schedule]")
    page.wait_for_selector(f"{draft}:has-text('scheduled')", timeout=WAIT_MS)
    page.click(f"{draft} button[data-draft=unschedule]")
    page.wait_for_selector(f"{draft}:has-text('submitted')", timeout=WAIT_MS)
    page.click(f"{draft} button[data-draft=discard]")
    page.wait_for_selector(draft, state="detached", timeout=WAIT_MS)
    assert not [u for u in updates_now(newsroom) if "Convoy" in u["body"]]
    stringer.close_clean()
    tab.close_clean()


def test_an_admin_adds_a_person_and_issues_a_token_shown_once(
    browser: Browser, newsroom: Newsroom
) -> None:
    tab = signed_in(browser, newsroom, newsroom.admin, story=None)
    page = tab.page
    page.fill("#p-name", "Nurlan Stringer")
    page.select_option("#p-role", "contributor")
    page.click("#person-form button[type=submit]")
    person = "#people li:has-text('Nurlan Stringer')"
    page.wait_for_selector(person, timeout=WAIT_MS)
    page.click(f"{person} button[data-issue]")
    page.wait_for_selector("#new-secret:not([hidden])", timeout=WAIT_MS)
    secret = page.inner_text("#secret")
    with newsroom.http() as client:
        me = client.get("/api/me", headers=bearer(secret)).json()
    assert (me["name"], me["role"]) == ("Nurlan Stringer", "contributor")
    page.wait_for_selector("#tokens li:has-text('Nurlan Stringer')", timeout=WAIT_MS)
    assert secret not in page.inner_text("#tokens")
    tab.close_clean()


def test_an_editor_adds_an_image_to_an_update_and_readers_see_it(
    browser: Browser, newsroom: Newsroom
) -> None:
    with newsroom.http() as client:
        update = post(client, newsroom.tokens.reporter, DEMO_SLUG, "<p>Smoke over the square.</p>")
    uid = update["id"]
    readers = reader(browser, newsroom)
    desk = signed_in(browser, newsroom, newsroom.tokens.editor)
    page = desk.page
    page.click(f"#tl-{uid} button[data-action=correct]")
    page.fill(f"#fx-img-{uid}", "https://images.example/square.jpg")
    page.fill(f"#fx-alt-{uid}", "Smoke rising over Ala-Too square")
    page.fill(f"#fx-note-{uid}", "Photo added")
    page.click(f"#tl-{uid} .tl-work button[type=submit]")
    image = f"#update-{uid} figure img[alt='Smoke rising over Ala-Too square']"
    readers.page.wait_for_selector(image, state="attached", timeout=WAIT_MS)
    # The image's host does not exist: a failed load of it is the browser's report, not
    # an error of the pages.
    readers.problems[:] = [p for p in readers.problems if "ERR_NAME_NOT_RESOLVED" not in p]
    desk.problems[:] = [p for p in desk.problems if "ERR_NAME_NOT_RESOLVED" not in p]
    readers.close_clean()
    desk.close_clean()


def test_an_editor_pins_flags_and_retracts_from_the_timeline_and_readers_follow(
    browser: Browser, newsroom: Newsroom
) -> None:
    with newsroom.http() as client:
        update = post(client, newsroom.tokens.reporter, DEMO_SLUG, "<p>Curfew lifted.</p>",
                      title="Curfew lifted")  # fmt: skip
    uid = update["id"]
    readers = reader(browser, newsroom)
    desk = signed_in(browser, newsroom, newsroom.tokens.editor)
    page = desk.page
    page.click(f"#tl-{uid} button[data-action=pin]")
    readers.page.wait_for_selector(f"#pinned-{uid}", timeout=WAIT_MS)
    page.wait_for_selector(f"#tl-{uid} button[data-action=pin]:has-text('Unpin')", timeout=WAIT_MS)
    page.click(f"#tl-{uid} button[data-action=key]")
    readers.page.wait_for_selector(f"#key-events-list li[data-id='{uid}']", timeout=WAIT_MS)
    page.click(f"#tl-{uid} button[data-action=pin]")
    readers.page.wait_for_selector(f"#pinned-{uid}", state="detached", timeout=WAIT_MS)
    page.click(f"#tl-{uid} button[data-action=retract]")
    page.fill(f"#rs-{uid}", "Not <confirmed>")
    page.click(f"#tl-{uid} .tl-work button[type=submit]")
    tombstone = readers.page.wait_for_selector(f"#update-{uid} .tombstone", timeout=WAIT_MS)
    assert tombstone is not None
    assert tombstone.inner_text() == "This update was retracted: Not <confirmed>"
    page.wait_for_selector(f"#tl-{uid} button[data-action=reinstate]", timeout=WAIT_MS)
    readers.close_clean()
    desk.close_clean()


def test_a_reporter_schedules_a_post_from_the_composer(
    browser: Browser, newsroom: Newsroom
) -> None:
    tab, page = composing(browser, newsroom, newsroom.tokens.reporter, "<p>Results due.</p>")
    page.fill("#c-at", "2099-06-01T12:00")
    page.click("#c-schedule")
    scheduled = "#drafts .draft:has-text('Results due.')"
    page.wait_for_selector(f"{scheduled}:has-text('scheduled')", timeout=WAIT_MS)
    assert page.query_selector(f"{scheduled} button[data-draft=unschedule]") is not None
    assert not [u for u in updates_now(newsroom) if "Results due" in u["body"]]
    tab.close_clean()


def test_an_editor_sees_the_story_as_readers_saw_it_at_a_moment(
    browser: Browser, newsroom: Newsroom
) -> None:
    tab = signed_in(browser, newsroom, newsroom.tokens.editor)
    page = tab.page
    wait_until(page, "document.querySelector('#then').dataset.version !== undefined")
    now_version = int(page.evaluate("document.querySelector('#then').dataset.version"))
    moment = "2020-10-05T16:00:00Z"  # 22:00 in Bishkek, the demo story's first evening
    page.fill("#at-time", "2020-10-05T16:00:00")
    page.click("#at-form button[type=submit]")
    wait_until(page, f"document.querySelector('#then').dataset.version !== '{now_version}'")
    published = page.eval_on_selector_all(
        "#then article", "all => all.map(a => a.dataset.published)"
    )
    assert published
    assert all(at <= moment for at in published)
    assert len(published) < len(page.query_selector_all("#now article"))
    assert page.input_value("#at-slider") == page.evaluate(
        "document.querySelector('#then').dataset.version"
    )
    tab.close_clean()


def test_a_wrong_token_is_refused_with_the_reason(browser: Browser, newsroom: Newsroom) -> None:
    tab = open_tab(browser, f"{newsroom.server.base_url}/newsroom", PHONE)
    page = tab.page
    page.fill("#token-input", "lb_not-a-token")
    page.press("#token-input", "Enter")
    page.wait_for_selector("#notice:has-text('That token was refused')", timeout=WAIT_MS)
    assert page.is_visible("#signin")
    assert page.is_hidden("#console")
    assert page.evaluate("sessionStorage.length") == 0
    tab.problems[:] = [p for p in tab.problems if "401" not in p]  # the browser's own log
    tab.close_clean()


def test_the_toolbar_wraps_the_selection_and_the_preview_shows_it(
    browser: Browser, newsroom: Newsroom
) -> None:
    tab, page = composing(browser, newsroom, newsroom.tokens.reporter, "Police say calm")
    page.evaluate("document.querySelector('#c-body').setSelectionRange(11, 15)")  # "calm"
    page.click(".toolbar button[data-wrap=strong]")
    assert page.input_value("#c-body") == "Police say <strong>calm</strong>"
    page.evaluate("document.querySelector('#c-body').setSelectionRange(0, 6)")  # "Police"
    page.click(".toolbar button[data-wrap=em]")
    page.evaluate("document.querySelector('#c-body').setSelectionRange(0, 999)")
    page.click(".toolbar button[data-wrap=blockquote]")
    value = page.input_value("#c-body")
    assert value == "<blockquote><em>Police</em> say <strong>calm</strong></blockquote>"
    page.click("#c-preview")
    page.wait_for_selector("#preview .body blockquote strong", timeout=WAIT_MS)
    assert page.inner_text("#preview .body") == "Police say calm"
    tab.close_clean()


def test_a_replay_pauses_holding_what_arrives_and_plays_on(
    browser: Browser, newsroom: Newsroom
) -> None:
    tab = signed_in(browser, newsroom, newsroom.tokens.editor)
    page = tab.page
    # At 600 times the pace, the demo evening's events (minutes apart) come a second or
    # less apart: a pause long enough to hold some, short enough for the test.
    page.select_option("#replay-speed", "600")
    page.click("#replay-play")
    page.wait_for_selector("#replay li", timeout=WAIT_MS)
    page.click("#replay-pause")
    assert page.inner_text("#replay-state") == "paused"
    held = page.evaluate("document.querySelectorAll('#replay li').length")
    page.wait_for_timeout(3_000)  # while paused, what arrives is held, not shown
    assert page.evaluate("document.querySelectorAll('#replay li').length") == held
    page.click("#replay-play")
    assert page.inner_text("#replay-state") in ("playing", "ended")
    wait_until(page, f"document.querySelectorAll('#replay li').length > {held}")
    tab.close_clean()


def test_a_reporter_posts_an_embed_and_an_image_from_the_composer(
    browser: Browser, newsroom: Newsroom
) -> None:
    tab, page = composing(browser, newsroom, newsroom.tokens.reporter, "<p>The march, filmed.</p>")
    page.click("#composer details summary")
    page.fill("#c-embed", "https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    page.fill("#c-img", "https://images.example/march.jpg")
    page.fill("#c-alt", "Marchers on the avenue")
    page.fill("#c-caption", "Evening")
    page.click("#c-post")
    page.wait_for_selector("#timeline .tl-item:has-text('The march, filmed.')", timeout=WAIT_MS)
    [sent] = [u for u in updates_now(newsroom) if "The march, filmed." in u["body"]]
    kinds = {m["type"]: m for m in sent["media"]}
    assert kinds["embed"]["provider"] == "youtube"
    assert (kinds["image"]["alt"], kinds["image"]["caption"]) == (
        "Marchers on the avenue",
        "Evening",
    )
    # The image's host does not exist: a failed load of it is the browser's report.
    tab.problems[:] = [p for p in tab.problems if "ERR_NAME_NOT_RESOLVED" not in p]
    tab.close_clean()
