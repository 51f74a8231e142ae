"""Reads folded from a story's stored events: time travel, raw history, far-back backlogs.

The answers' bytes are pinned in ``test_wire_shapes.py``; here, what each read holds at
its edges: a story the store does not hold, a moment before it, a cursor beyond it.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from liveblog.live.backlog import read_backlog
from liveblog.newsroom import Newsroom
from projections.story_reads import StoryMissing, StoryReads
from tests.helpers import EDITOR


@pytest.fixture
def story_id(newsroom: Newsroom) -> UUID:
    """A story of eight events: opened, five posts, a correction, an edit."""
    opened = newsroom.open_story(slug="reads", title="Reads", summary="", actor=EDITOR)
    posted = [
        newsroom.post_update(opened.story_id, body=f"<p>Post {n}</p>", actor=EDITOR).update_id
        for n in range(5)
    ]
    assert posted[0] is not None
    newsroom.correct_update(
        opened.story_id, posted[0], body="<p>Post 0, corrected</p>", note="Fixed",
        actor=EDITOR, as_editor=True,
    )  # fmt: skip
    newsroom.edit_story(opened.story_id, title="Reads, edited", summary="", actor=EDITOR)
    return opened.story_id


def test_a_story_the_store_does_not_hold_is_missing_from_every_read(
    newsroom: Newsroom,
) -> None:
    reads, unknown = StoryReads(newsroom), uuid4()
    with pytest.raises(StoryMissing, match=f"no story {unknown}"):
        reads.story(unknown)
    with pytest.raises(StoryMissing, match=f"no story {unknown}"):
        reads.story(unknown, upto=3)
    with pytest.raises(StoryMissing, match=f"no story {unknown}"):
        reads.events(unknown, after=0, limit=10)
    with pytest.raises(StoryMissing, match=f"no story {unknown}"):
        reads.applied_after(unknown, 0)
    with pytest.raises(StoryMissing, match=f"no story {unknown}"):
        read_backlog(newsroom, unknown, 0)


def test_time_travel_folds_up_to_a_version_or_a_moment(newsroom: Newsroom, story_id: UUID) -> None:
    reads = StoryReads(newsroom)
    events = newsroom.story_events(story_id)
    assert reads.story(story_id).version == len(events)
    assert reads.story(story_id, upto=2).version == 2
    assert reads.story_at(story_id, events[1].timestamp).version == 2
    before = events[0].timestamp - timedelta(seconds=1)
    with pytest.raises(StoryMissing, match="did not exist yet"):
        reads.story_at(story_id, before)


def test_the_history_pages_through_the_stored_events(newsroom: Newsroom, story_id: UUID) -> None:
    reads = StoryReads(newsroom)
    events = newsroom.story_events(story_id)
    assert reads.events(story_id, after=0, limit=3) == events[:3]
    assert reads.events(story_id, after=3, limit=3) == events[3:6]
    assert reads.events(story_id, after=len(events), limit=3) == []  # past the end: no 404


def test_a_backlog_is_each_event_after_the_cursor_and_none_beyond_the_story(
    newsroom: Newsroom, story_id: UUID
) -> None:
    reads = StoryReads(newsroom)
    newest = len(newsroom.story_events(story_id))
    assert newest == 8
    applied = reads.applied_after(story_id, 4)
    assert applied is not None
    assert [a.version for a in applied] == list(range(5, newest + 1))
    assert all(a.data for a in applied)  # with the live data the hub sent
    assert reads.applied_after(story_id, newest) == []
    assert reads.applied_after(story_id, newest + 1) is None
    frames = read_backlog(newsroom, story_id, 4)
    assert frames is not None
    assert [frame.version for frame in frames] == list(range(5, newest + 1))
    assert read_backlog(newsroom, story_id, newest + 1) is None
