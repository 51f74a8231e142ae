"""The web layer's deadline on database work: past it, ``DeadlinePassed``, never a wait.

``in_thread`` (reads) and ``commands.execute`` (story commands) are awaited from the
event loop; the work they wait for is made to stall here (a held story lock, a slow
call), as a dead database would stall it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from uuid import UUID

import pytest

from liveblog import deadline
from liveblog.deadline import DeadlinePassed
from liveblog.newsroom import Newsroom
from liveblog.settings import DB_DEADLINE_ENV, Settings, SettingsError
from liveblog.web import commands, threads
from tests.helpers import REPORTER

DEADLINE = 0.3
HANG_BOUND = DEADLINE + 5.0  # "did not hang"


@pytest.fixture
def short_deadline() -> Iterator[None]:
    threads.set_deadline(DEADLINE)
    yield
    threads.set_deadline(Settings().db_deadline_seconds)


@pytest.fixture
def newsroom() -> Iterator[Newsroom]:
    app = Newsroom(env=Settings(database_url="memory://").eventsourcing_env())
    yield app
    app.close()


def open_story(newsroom: Newsroom) -> UUID:
    return newsroom.open_story(slug="s", title="S", summary="", actor=REPORTER).story_id


async def test_a_read_past_its_deadline_answers_deadline_passed(short_deadline: None) -> None:
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(DeadlinePassed):
        await threads.in_thread(release.wait, 30)
    assert time.monotonic() - started < HANG_BOUND
    release.set()


async def test_many_reads_past_their_deadline_all_answer_deadline_passed(
    short_deadline: None,
) -> None:
    # Never a bare CancelledError, however the deadline's timer and the loop's clock fall.
    release = threading.Event()
    calls = [threads.in_thread(release.wait, 30) for _ in range(20)]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    release.set()
    assert all(isinstance(outcome, DeadlinePassed) for outcome in outcomes), outcomes


async def test_cancelling_the_caller_is_a_cancellation_not_a_deadline(
    short_deadline: None,
) -> None:
    release = threading.Event()
    call = asyncio.ensure_future(threads.in_thread(release.wait, 30))
    await asyncio.sleep(0.05)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    release.set()


async def test_a_read_runs_under_its_deadline_in_its_thread(short_deadline: None) -> None:
    left = await threads.in_thread(deadline.remaining)
    assert left is not None
    assert 0 < left <= DEADLINE


async def test_a_read_that_waited_past_its_deadline_for_a_thread_never_starts(
    short_deadline: None,
) -> None:
    ran: list[bool] = []
    release = threading.Event()
    # Every worker busy: the read waits for one until its deadline has passed.
    blockers = [
        asyncio.ensure_future(threads.within_deadline(release.wait, (30,), {}, 30))
        for _ in range(threads.WORKER_THREADS)
    ]
    await asyncio.sleep(0.05)  # let them take the workers
    with pytest.raises(DeadlinePassed):
        await threads.in_thread(lambda: ran.append(True))
    release.set()
    await asyncio.gather(*blockers)
    await threads.in_thread(lambda: None)  # the workers are free again
    assert ran == []


async def test_a_command_stuck_in_the_queue_is_withdrawn_at_its_deadline(
    short_deadline: None, newsroom: Newsroom
) -> None:
    story_id = open_story(newsroom)
    command = newsroom.post_update_command(story_id, body="<p>late</p>", actor=REPORTER)
    # The story's turn is held, as by a batch stuck in a dead database.
    with newsroom.batcher.turn(story_id), pytest.raises(DeadlinePassed, match="nothing was saved"):
        await commands.execute(newsroom, command)
    await asyncio.sleep(0.2)  # a drain that started would run it now; there is none
    assert newsroom.story_version(story_id) == 1


async def test_a_command_in_time_is_saved(short_deadline: None, newsroom: Newsroom) -> None:
    story_id = open_story(newsroom)
    command = newsroom.post_update_command(story_id, body="<p>on time</p>", actor=REPORTER)
    outcome = await commands.execute(newsroom, command)
    assert outcome.version == 2


def test_a_drain_runs_each_batch_under_its_deadline(newsroom: Newsroom) -> None:
    story_id = open_story(newsroom)
    seen: list[float | None] = []
    command = newsroom.post_update_command(story_id, body="<p>x</p>", actor=REPORTER)
    original = command.run

    def run(story: object) -> None:
        seen.append(deadline.remaining())
        original(story)  # type: ignore[arg-type]

    job, _ = newsroom.submit(type(command)(story_id, run, command.update_id))
    newsroom.drain(story_id, batch_seconds=2.0)
    assert job.result().version == 2
    assert seen[0] is not None
    assert 0 < seen[0] <= 2.0


def test_the_deadline_is_a_setting() -> None:
    assert Settings.from_environ({DB_DEADLINE_ENV: "2.5"}).db_deadline_seconds == 2.5
    assert Settings.from_environ({}).db_deadline_seconds == 5.0
    env = Settings(
        database_url="postgresql://postgres@127.0.0.1:5432/test", db_deadline_seconds=2.5
    ).eventsourcing_env()
    assert env[DB_DEADLINE_ENV] == "2.5"
    assert env["POSTGRES_CONNECT_TIMEOUT"] == "3"


@pytest.mark.parametrize("raw", ["0", "-1", "soon", "nan", "inf", "121"])
def test_a_deadline_that_is_not_a_sensible_number_of_seconds_is_refused(raw: str) -> None:
    with pytest.raises(SettingsError, match=DB_DEADLINE_ENV):
        Settings.from_environ({DB_DEADLINE_ENV: raw})
