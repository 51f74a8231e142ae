"""The application on a SQLite file, no server: what the in-process workloads share.

The log is seeded fast: each Story aggregate takes many ``post_update`` calls and is
saved every ``CHUNK`` pending events (through ``Application.save``, so snapshots are taken
as in production).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID, uuid4

from liveblog.domain import Actor, Story
from liveblog.newsroom import Newsroom
from liveblog.settings import Settings
from scripts.benchmarks.common import FILLER

CHUNK = 500


def body(seq: int) -> str:
    """The body the API load client posts (plain text: sanitizing keeps it as it is)."""
    return f"bench seq={seq:06d} {FILLER}"


WHO = Actor(id="bench-reporter", name="Bench Reporter")


@contextmanager
def newsroom_on(path: Path) -> Iterator[Newsroom]:
    """A Newsroom on a fresh SQLite file."""
    env = Settings(database_url=f"sqlite:///{path}").eventsourcing_env()
    with Newsroom(env=env) as newsroom:
        gc.collect()  # start from a clean heap: earlier workloads' garbage is not ours
        yield newsroom


def seed_story(newsroom: Newsroom, slug: str, updates: int) -> UUID:
    """Open a story and post ``updates`` updates on the aggregate, saving every CHUNK."""
    story = Story.open(slug=slug, title=f"Bench: {slug}", summary="Live", actor=WHO)
    for seq in range(updates):
        story.post_update(
            update_id=uuid4(), title="", body=body(seq), key_event=seq % 50 == 0,
            pinned=False, actor=WHO,
        )  # fmt: skip
        if len(story.pending_events) >= CHUNK:
            newsroom.save(story)
    newsroom.save(story)
    return story.id
