"""Group commit: commands queued on one story while a batch saves are saved together.

Each test holds the story's turn (its lock) while commands queue up behind it, so the
next batch surely holds them all; then it lets go and checks what was recorded, and
in how many saves. Runs on SQLite files and on PostgreSQL.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from uuid import UUID

import pytest

from liveblog.domain import (
    RevisionConflict,
    Story,
    StoryClosed,
    UpdateNotFound,
)
from liveblog.newsroom import Command, Newsroom, Outcome, StoryBusy, StoryNotFound
from liveblog.settings import Settings
from tests.helpers import EDITOR, REPORTER

THREAD_TIMEOUT = 10.0  # reached only when a test is broken


class CountingNewsroom(Newsroom):
    """A Newsroom that counts the events of each save, and may act just before one."""

    # The library names a subclass's tables after the subclass unless told otherwise.
    name = "Newsroom"

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env)
        self.env_given = env
        self.saved_batches: list[int] = []
        self.before_next_save: Callable[[], object] | None = None

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        pending = sum(len(getattr(obj, "pending_events", ())) for obj in objs)
        hook, self.before_next_save = self.before_next_save, None
        if hook is not None:
            hook()
        result = super().save(*objs, **kwargs)
        self.saved_batches.append(pending)
        return result


@pytest.fixture(params=["sqlite", "postgres"])
def app(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[CountingNewsroom]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'group.sqlite3'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    room = CountingNewsroom(Settings(database_url=url).eventsourcing_env())
    try:
        yield room
    finally:
        room.close()


@pytest.fixture
def story_id(app: CountingNewsroom) -> UUID:
    outcome = app.open_story(slug="osh-floods", title="Floods in Osh", summary="", actor=EDITOR)
    app.saved_batches.clear()
    return outcome.story_id


def queued_behind_a_held_turn(
    app: Newsroom, story_id: UUID, commands: Sequence[Callable[[], Outcome]]
) -> list[Future[Outcome]]:
    """Start ``commands`` in threads while the story's turn is held; let go once all queue."""
    pool = ThreadPoolExecutor(max_workers=len(commands))
    with app.batcher.turn(story_id):
        futures = []
        for command in commands:
            futures.append(pool.submit(command))
            # One at a time, so the queue's order is the order given here.
            wait_until(lambda: app.batcher.waiting(story_id) == len(futures))
    pool.shutdown(wait=True)
    return futures


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + THREAD_TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "the commands never queued"
        time.sleep(0.001)


def post(app: Newsroom, story_id: UUID, text: str, key: str | None = None) -> Outcome:
    return app.post_update(story_id, body=f"<p>{text}</p>", actor=REPORTER, idempotency_key=key)


def test_posts_queued_during_a_save_are_saved_together_in_order(
    app: CountingNewsroom, story_id: UUID
) -> None:
    texts = [f"update {n}" for n in range(6)]
    commands = [functools.partial(post, app, story_id, text) for text in texts]
    futures = queued_behind_a_held_turn(app, story_id, commands)

    outcomes = [f.result(timeout=THREAD_TIMEOUT) for f in futures]
    assert app.saved_batches == [6]
    assert [o.version for o in outcomes] == [2, 3, 4, 5, 6, 7]
    assert all(o.recorded for o in outcomes)
    events = [e for e in app.story_events(story_id) if isinstance(e, Story.UpdatePosted)]
    assert [(e.originator_version, e.update_id, e.body) for e in events] == [
        (o.version, o.update_id, f"<p>{t}</p>") for o, t in zip(outcomes, texts, strict=True)
    ]


def test_a_failing_command_fails_alone_and_the_rest_of_its_batch_is_recorded(
    app: CountingNewsroom, story_id: UUID
) -> None:
    first = post(app, story_id, "first")
    app.saved_batches.clear()
    futures = queued_behind_a_held_turn(
        app,
        story_id,
        [
            lambda: post(app, story_id, "before"),
            lambda: app.correct_update(
                story_id, first.update_id or UUID(int=0), body="<p>fixed</p>", note="typo",
                actor=REPORTER, as_editor=False, expected_revision=7,
            ),
            lambda: app.retract_update(story_id, UUID(int=1), reason="no such", actor=EDITOR),
            lambda: post(app, story_id, "after"),
        ],
    )  # fmt: skip

    before, stale, missing, after = futures
    assert isinstance(stale.exception(timeout=THREAD_TIMEOUT), RevisionConflict)
    assert isinstance(missing.exception(timeout=THREAD_TIMEOUT), UpdateNotFound)
    assert [before.result().version, after.result().version] == [3, 4]
    assert app.saved_batches == [2]
    assert app.get_story(story_id).version == 4


def test_commands_in_one_batch_see_the_ones_before_them(
    app: CountingNewsroom, story_id: UUID
) -> None:
    # The same key twice records one update; a post after a close is refused.
    futures = queued_behind_a_held_turn(
        app,
        story_id,
        [
            lambda: post(app, story_id, "once", key="k-1"),
            lambda: post(app, story_id, "once", key="k-1"),
            lambda: app.close_story(story_id, actor=EDITOR),
            lambda: post(app, story_id, "too late"),
        ],
    )

    first, retry, closed, late = futures
    assert first.result().recorded
    assert not retry.result().recorded
    assert retry.result().update_id == first.result().update_id
    assert closed.result().version == 3
    assert isinstance(late.exception(timeout=THREAD_TIMEOUT), StoryClosed)
    assert app.saved_batches == [2]


def test_a_batch_lost_to_another_process_is_decided_again_on_the_fresh_story(
    app: CountingNewsroom, story_id: UUID
) -> None:
    # Another instance (as another process would) takes version 2 between this batch's
    # decision and its save: the save fails, and the batch is decided again.
    other = Newsroom(app.env_given)
    try:
        app.before_next_save = lambda: post(other, story_id, "theirs")
        futures = queued_behind_a_held_turn(
            app,
            story_id,
            [lambda: post(app, story_id, "mine"), lambda: post(app, story_id, "too")],
        )
        outcomes = [f.result(timeout=THREAD_TIMEOUT) for f in futures]
    finally:
        other.close()

    assert [o.version for o in outcomes] == [3, 4]
    assert all(o.recorded for o in outcomes)
    assert app.saved_batches == [2]  # the failed save is not counted: it raised
    bodies = [e.body for e in app.story_events(story_id) if isinstance(e, Story.UpdatePosted)]
    assert bodies == ["<p>theirs</p>", "<p>mine</p>", "<p>too</p>"]


def test_a_batch_that_cannot_load_its_story_fails_each_command_with_its_own_error(
    app: CountingNewsroom,
) -> None:
    missing = UUID(int=7)
    futures = queued_behind_a_held_turn(
        app, missing, [functools.partial(post, app, missing, f"lost {n}") for n in range(3)]
    )

    errors = [f.exception(timeout=THREAD_TIMEOUT) for f in futures]
    assert all(isinstance(error, StoryNotFound) for error in errors)
    assert len({id(error) for error in errors}) == 3  # each thread raises its own
    assert app.saved_batches == []


def test_submitted_commands_are_drained_in_batches_by_one_thread(
    app: CountingNewsroom, story_id: UUID
) -> None:
    # The web layer's path: queue without waiting, one drain per story, a callback each.
    called: list[int] = []
    with app.batcher.turn(story_id):  # the first drain waits here while all five queue
        submitted = [
            app.submit(
                app.post_update_command(story_id, body=f"<p>{n}</p>", actor=REPORTER),
                on_done=functools.partial(called.append, n),
            )
            for n in range(5)
        ]
        starts = [start for _, start in submitted]
        assert starts == [True, False, False, False, False]  # one drain is enough
        drainer = threading.Thread(target=app.drain, args=(story_id,))
        drainer.start()
    drainer.join(THREAD_TIMEOUT)

    assert not drainer.is_alive()
    assert sorted(called) == [0, 1, 2, 3, 4]
    assert [job.result().version for job, _ in submitted] == [2, 3, 4, 5, 6]
    assert app.saved_batches == [5]
    # The drain has ended: the next command asks for a new one, and gets it done.
    job, start = app.submit(app.close_story_command(story_id, actor=EDITOR))
    assert start
    app.drain(story_id)
    assert job.result().version == 7


def test_a_drain_that_fails_lets_the_next_command_start_another(
    app: CountingNewsroom, story_id: UUID
) -> None:
    def broken(story: Story) -> None:
        raise KeyboardInterrupt  # a BaseException: it goes through the batch's handling

    job, start = app.submit(Command(story_id, broken))
    assert start
    with pytest.raises(KeyboardInterrupt):
        app.drain(story_id)

    assert isinstance(job.error, StoryBusy)  # its waiter is told, not left hanging
    later, start_again = app.submit(
        app.post_update_command(story_id, body="<p>y</p>", actor=REPORTER)
    )
    assert start_again
    app.drain(story_id)
    assert later.result().version == 2
