"""The fast paths built on the library's internals (``liveblog.eventsourcing_adapter``)
are on: each test fails when its override or private field is no longer used, which a
new version of eventsourcing could do silently (everything else would still work,
slower or less bounded).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from eventsourcing.persistence import Notification

from liveblog import deadline
from liveblog.domain import Actor
from liveblog.eventsourcing_adapter import (
    ListenSubscription,
    SQLiteSubscription,
    StatementCachingConnection,
    next_batch,
    open_subscription,
    wake,
)
from liveblog.newsroom import Newsroom
from liveblog.settings import Settings
from liveblog.sqlite_store import SQLiteFactory

EDITOR = Actor(id="editor-cholpon", name="Cholpon Editor")
THREAD_TIMEOUT = 10.0  # reached only when a test is broken


@pytest.fixture
def sqlite_newsroom(sqlite_url: str) -> Iterator[Newsroom]:
    with Newsroom(env=Settings(database_url=sqlite_url).eventsourcing_env()) as newsroom:
        yield newsroom


def open_stories(newsroom: Newsroom, count: int) -> None:
    for n in range(count):
        newsroom.open_story(slug=f"story-{n}", title=f"Story {n}", summary="", actor=EDITOR)


def in_time(call: Callable[[], list[Notification]]) -> list[Notification]:
    """``call()``, in a thread: a subscription that is never woken would block for ever."""
    got: list[list[Notification]] = []
    thread = threading.Thread(target=lambda: got.append(call()), daemon=True)
    thread.start()
    thread.join(THREAD_TIMEOUT)
    assert got, "the subscription was not woken"
    return got[0]


def test_every_sqlite_connection_keeps_a_statement_cache(sqlite_newsroom: Newsroom) -> None:
    # The library's own connections cache one statement: all of ours are made by the
    # pool's overridden _create_connection, which keeps STATEMENT_CACHE_SIZE.
    assert isinstance(sqlite_newsroom.factory, SQLiteFactory)
    open_stories(sqlite_newsroom, 1)
    with sqlite_newsroom.factory.datastore.get_connection(commit=False) as connection:
        assert isinstance(connection, StatementCachingConnection)


def test_a_batch_is_the_whole_page_the_subscription_pulled(sqlite_newsroom: Newsroom) -> None:
    open_stories(sqlite_newsroom, 5)
    with open_subscription(sqlite_newsroom.recorder, 0) as subscription:
        assert isinstance(subscription, SQLiteSubscription)
        batch = in_time(lambda: next_batch(subscription))
    assert [n.id for n in batch] == [1, 2, 3, 4, 5]


def test_a_woken_subscription_pulls_what_was_saved_since(sqlite_newsroom: Newsroom) -> None:
    # SQLite has no notifications: without a wake-up the subscription would not look.
    open_stories(sqlite_newsroom, 1)
    with open_subscription(sqlite_newsroom.recorder, 0) as subscription:
        assert [n.id for n in in_time(lambda: next_batch(subscription))] == [1]
        sqlite_newsroom.open_story(slug="later", title="Later", summary="", actor=EDITOR)
        wake(subscription)
        assert [n.id for n in in_time(lambda: next_batch(subscription))] == [2]


@pytest.mark.postgres
def test_the_listen_subscription_pulls_under_the_background_deadline(
    fresh_postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = Settings(database_url=fresh_postgres_url).eventsourcing_env()
    with Newsroom(env=env) as newsroom:
        open_stories(newsroom, 2)
        recorder = newsroom.recorder
        in_background: list[bool] = []
        select_notifications = recorder.select_notifications

        def watched(*args: Any, **kwargs: Any) -> Sequence[Notification]:
            in_background.append(deadline.in_background())
            return select_notifications(*args, **kwargs)

        monkeypatch.setattr(recorder, "select_notifications", watched)
        with open_subscription(recorder, 0) as subscription:
            assert isinstance(subscription, ListenSubscription)
            batch = in_time(lambda: next_batch(subscription))
    assert [n.id for n in batch] == [1, 2]
    assert in_background
    assert all(in_background)
