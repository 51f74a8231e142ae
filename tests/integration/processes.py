"""Liveblog processes on one store for integration tests, as ``bootstrap.build`` makes
them (a Newsroom, its views, its feed), and the work a busy newsroom gives them."""

from __future__ import annotations

import functools
import threading
from collections import defaultdict
from collections.abc import Sequence
from uuid import UUID

from liveblog.bootstrap import Parts, build
from liveblog.newsroom import Newsroom
from liveblog.settings import Settings
from projections.states import Applied
from tests.helpers import EDITOR, OTHER_REPORTER, REPORTER, in_threads
from tests.integration.views_oracle import close_views

# Generous bound on any wait: reached only when a test is broken.
TIMEOUT = 15.0


class Recorder:
    """A feed listener that remembers every version it was handed, per story."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: dict[UUID, list[int]] = defaultdict(list)

    def on_applied(self, applied: Sequence[Applied]) -> None:
        with self._lock:
            for item in applied:
                self._versions[item.story_id].append(item.version)

    def versions(self) -> dict[UUID, list[int]]:
        with self._lock:
            return {story_id: list(seen) for story_id, seen in self._versions.items()}


def story_versions(newsroom: Newsroom) -> dict[UUID, list[int]]:
    """Each story's versions in the store: what a listener must have seen, once each."""
    return {
        story_id: [e.originator_version for e in newsroom.story_events(story_id)]
        for story_id in newsroom.story_ids()
    }


class Processes:
    """Builds liveblog processes on one store; closes them all at the end."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._parts: list[Parts] = []

    def build(self, *, start: bool = True, poll_seconds: float = 1.0) -> tuple[Parts, Recorder]:
        """A process with a recording listener; its feed started unless ``start=False``."""
        parts = build(
            Settings(database_url=self.database_url), start_feed=False, poll_seconds=poll_seconds
        )
        self._parts.append(parts)
        recorder = Recorder()
        parts.feed.listeners.append(recorder)
        if start:
            parts.feed.start()
        return parts, recorder

    def close(self, parts: Parts) -> None:
        if parts in self._parts:
            self._parts.remove(parts)
            parts.close()
            close_views(parts.views, parts.newsroom)

    def close_all(self) -> None:
        for parts in reversed(list(self._parts)):
            self.close(parts)


def newsroom_work(newsroom: Newsroom, story_ids: Sequence[UUID], worker: int, rounds: int) -> int:
    """One writer's share of a busy newsroom: posts, corrections, flags, retractions, edits.

    Each writer touches only updates it posted, so none of its commands is refused;
    the stories are shared, so writers race for every story's next version.
    """
    done = 0
    for number in range(rounds):
        story_id = story_ids[(worker + number) % len(story_ids)]
        author = REPORTER if worker % 2 else OTHER_REPORTER
        posted = newsroom.post_update(
            story_id, body=f"<p>Worker {worker}, round {number}.</p>", title=f"w{worker}",
            actor=author, key_event=number % 3 == 0, idempotency_key=f"w{worker}-r{number}",
        )  # fmt: skip
        update_id = posted.update_id
        assert update_id is not None
        newsroom.correct_update(
            story_id, update_id, body=f"<p>Worker {worker}, round {number}, corrected.</p>",
            note="Detail", actor=author, as_editor=False, expected_revision=1,
        )  # fmt: skip
        newsroom.flag_update(story_id, update_id, pinned=True, key_event=None, actor=EDITOR)
        done += 3
        if number % 2:
            newsroom.retract_update(story_id, update_id, reason="Unconfirmed", actor=EDITOR)
            done += 1
        if number == rounds - 1:
            newsroom.edit_story(
                story_id, title=None, summary=f"Summary by worker {worker}", actor=EDITOR
            )
            done += 1
    return done


def busy_newsrooms(
    newsrooms: Sequence[Newsroom], story_ids: Sequence[UUID], *, workers: int, rounds: int
) -> None:
    """``workers`` threads spread over ``newsrooms``; every command must succeed."""
    results = in_threads(
        TIMEOUT,
        [
            functools.partial(newsroom_work, newsrooms[w % len(newsrooms)], story_ids, w, rounds)
            for w in range(workers)
        ],
    )
    for result in results:
        assert not isinstance(result, BaseException), repr(result)


def open_stories(newsroom: Newsroom, count: int) -> list[UUID]:
    return [
        newsroom.open_story(
            slug=f"story-{number}", title=f"Story {number}", summary="", actor=EDITOR
        ).story_id
        for number in range(count)
    ]
