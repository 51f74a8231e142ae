"""The PostgreSQL store under an outage, through a fault proxy: bounded calls, quick recovery.

A Newsroom talks to the real server through ``tests.faultproxy``; the proxy then resets
or black-holes its connections. Calls must end by their deadline (never wait for the
outage), and once the proxy passes traffic again the same Newsroom must work again.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import pytest
from eventsourcing.persistence import PersistenceError

from liveblog import deadline
from liveblog.deadline import DeadlinePassed
from liveblog.newsroom import Newsroom
from liveblog.postgres_store import WATCH, BoundedDatastore
from liveblog.settings import Settings
from tests.faultproxy import Mode, ProxyThread, running_proxy
from tests.helpers import EDITOR

pytestmark = pytest.mark.postgres

DEADLINE = 1.0
# "Did not hang": a bound far above the deadline, far below an outage.
HANG_BOUND = DEADLINE + 5.0


def via_proxy(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


@pytest.fixture
def proxy(fresh_postgres_url: str) -> Iterator[ProxyThread]:
    parts = urlsplit(fresh_postgres_url)
    with running_proxy(parts.hostname or "127.0.0.1", parts.port or 5432) as running:
        yield running


@pytest.fixture
def newsroom(fresh_postgres_url: str, proxy: ProxyThread) -> Iterator[Newsroom]:
    settings = Settings(
        database_url=via_proxy(fresh_postgres_url, proxy.port), db_deadline_seconds=DEADLINE
    )
    app = Newsroom(env=settings.eventsourcing_env())
    yield app
    proxy.set_mode(Mode.PASS)
    app.close()


def bounded_call(
    call: Callable[[], Any], seconds: float | None, *, background: bool = False
) -> tuple[Any, float]:
    """``call()`` in a thread under a deadline of ``seconds``; (result or error, elapsed).

    The thread is joined for HANG_BOUND at most: a call still running then has hung.
    """
    outcome: list[Any] = []

    def run() -> None:
        until = None if seconds is None else time.monotonic() + seconds
        marked = deadline.background() if background else contextlib.nullcontext()
        try:
            with deadline.within(until), marked:
                outcome.append(call())
        except Exception as error:
            outcome.append(error)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_BOUND)
    assert not thread.is_alive(), "the call hung past its deadline"
    return outcome[0], time.monotonic() - started


def first_success(call: Callable[[], Any], attempts: int = 40) -> Any:
    """Retry ``call`` (each under the deadline) until it works; a bounded number of times."""
    for _ in range(attempts):
        result, _ = bounded_call(call, DEADLINE)
        if not isinstance(result, Exception):
            return result
        time.sleep(0.25)  # polling the store's recovery, not asserting a time
    pytest.fail("the store did not recover")


def open_story(newsroom: Newsroom) -> UUID:
    return newsroom.open_story(slug="outage", title="Outage", summary="", actor=EDITOR).story_id


def test_the_store_is_the_bounded_one(newsroom: Newsroom) -> None:
    assert isinstance(newsroom.factory.datastore, BoundedDatastore)  # type: ignore[attr-defined]


def test_a_black_holed_read_ends_at_its_deadline_and_the_store_recovers(
    newsroom: Newsroom, proxy: ProxyThread
) -> None:
    story_id = open_story(newsroom)
    kills = WATCH.kills
    proxy.set_mode(Mode.BLACKHOLE)

    result, _ = bounded_call(lambda: newsroom.story_events(story_id), DEADLINE)

    assert isinstance(result, DeadlinePassed)
    assert WATCH.kills > kills  # the stuck socket was shut down, its thread let go
    proxy.set_mode(Mode.PASS)
    events = first_success(lambda: newsroom.story_events(story_id))
    assert len(events) == 1


def test_a_black_holed_write_ends_at_its_deadline_and_writes_work_again(
    newsroom: Newsroom, proxy: ProxyThread
) -> None:
    story_id = open_story(newsroom)
    proxy.set_mode(Mode.BLACKHOLE)

    result, _ = bounded_call(
        lambda: newsroom.post_update(
            story_id, body="<p>held</p>", actor=EDITOR, idempotency_key="a"
        ),
        DEADLINE,
    )

    assert isinstance(result, PersistenceError)
    proxy.set_mode(Mode.PASS)
    first_success(
        lambda: newsroom.post_update(
            story_id, body="<p>held</p>", actor=EDITOR, idempotency_key="a"
        )
    )
    # Saved once, whether the held attempt reached the database or not.
    assert newsroom.story_version(story_id) == 2


def test_a_reset_fails_at_once_and_the_store_recovers(
    newsroom: Newsroom, proxy: ProxyThread
) -> None:
    story_id = open_story(newsroom)
    proxy.set_mode(Mode.RESET)

    result, _ = bounded_call(lambda: newsroom.story_events(story_id), DEADLINE)

    assert isinstance(result, PersistenceError)
    proxy.set_mode(Mode.PASS)
    assert len(first_success(lambda: newsroom.story_events(story_id))) == 1


def test_a_background_thread_is_let_go_too(
    newsroom: Newsroom, proxy: ProxyThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The feed's thread has no caller waiting; it may hold a connection longer, not for ever.
    open_story(newsroom)
    datastore = newsroom.factory.datastore  # type: ignore[attr-defined]
    monkeypatch.setattr(datastore, "background_hold", 0.5)
    proxy.set_mode(Mode.BLACKHOLE)

    result, _ = bounded_call(newsroom.recorder.max_notification_id, None, background=True)

    assert isinstance(result, PersistenceError)
    proxy.set_mode(Mode.PASS)
    assert first_success(newsroom.recorder.max_notification_id) == 1


def test_a_tool_thread_is_not_cut_short(
    newsroom: Newsroom, proxy: ProxyThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rebuild's chunk may take long: without a deadline or the background mark, a call
    # is never cut, however long it waits; it ends when the database answers.
    open_story(newsroom)
    datastore = newsroom.factory.datastore  # type: ignore[attr-defined]
    monkeypatch.setattr(datastore, "background_hold", 0.2)
    proxy.set_mode(Mode.BLACKHOLE)
    outcome: list[Any] = []
    thread = threading.Thread(
        target=lambda: outcome.append(newsroom.recorder.max_notification_id()), daemon=True
    )
    thread.start()
    thread.join(1.0)  # five background holds: a background thread would have been cut
    assert thread.is_alive()
    proxy.set_mode(Mode.PASS)
    thread.join(HANG_BOUND)
    assert outcome == [1]
