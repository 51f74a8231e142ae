"""``StoryBatcher`` alone, given plain callables for a store: a dict of saved stories.

The same guarantees on SQLite and PostgreSQL, through the Newsroom, are in
``tests/integration/test_group_commit.py``.
"""

from __future__ import annotations

import copy
import threading
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError

from liveblog.domain import Actor, Story, digest
from liveblog.group_commit import Command, StoryBatcher

EDITOR = Actor(id="editor-cholpon", name="Cholpon Editor")


class DictStore:
    """Saved stories by id; ``load`` hands out one working copy until it is forgotten."""

    def __init__(self, story: Story) -> None:
        story.collect_events()
        self.saved = {story.id: story}
        self.working: dict[UUID, Story] = {}
        self.saves: list[int] = []  # the events of each save
        self.races_to_lose = 0

    def load(self, story_id: UUID) -> Story:
        if story_id not in self.working:
            self.working[story_id] = copy.deepcopy(self.saved[story_id])
        return self.working[story_id]

    def save(self, story: Story) -> None:
        if self.races_to_lose:
            self.races_to_lose -= 1
            raise IntegrityError("another process took this version")
        self.saves.append(len(story.collect_events()))
        self.saved[story.id] = copy.deepcopy(story)

    def forget(self, story_id: UUID) -> None:
        self.working.pop(story_id, None)


@pytest.fixture
def store() -> DictStore:
    return DictStore(Story.open(slug="osh-floods", title="Floods", summary="", actor=EDITOR))


def batcher_on(store: DictStore) -> StoryBatcher:
    return StoryBatcher(load=store.load, save=store.save, forget=store.forget)


def post(story_id: UUID, text: str) -> Command:
    def run(story: Story) -> None:
        story.post_update(
            update_id=UUID(int=len(story.updates) + 1), title="", body=text, key_event=False,
            pinned=False, actor=EDITOR, at=None,
        )  # fmt: skip

    return Command(story_id, run)


def test_commands_queued_during_a_turn_are_saved_in_one_save_in_order(store: DictStore) -> None:
    batcher = batcher_on(store)
    (story_id,) = store.saved
    with batcher.turn(story_id):
        jobs = [batcher.submit(post(story_id, f"<p>{n}</p>"))[0] for n in range(3)]
        assert batcher.waiting(story_id) == 3
    drainer = threading.Thread(target=batcher.drain, args=(story_id,))
    drainer.start()
    drainer.join(10)

    assert [job.result().version for job in jobs] == [2, 3, 4]
    assert store.saves == [3]
    saved = store.saved[story_id].updates.values()
    assert [u.body_digest for u in saved] == [digest(f"<p>{n}</p>") for n in range(3)]


def test_a_batch_that_lost_a_race_is_decided_again_on_a_fresh_load(store: DictStore) -> None:
    batcher = batcher_on(store)
    (story_id,) = store.saved
    store.races_to_lose = 2

    outcome = batcher.execute(post(story_id, "<p>mine</p>"))

    assert outcome.version == 2
    assert outcome.recorded
    assert store.saves == [1]
    assert batcher.waiting(story_id) == 0
