"""Events that code before the newsroom-text rule recorded (U+0000 in a title, a body, a
note) still load, project and rebuild, on each backend: the fold shows U+0000 as U+FFFD,
so the views (whose PostgreSQL text columns cannot hold U+0000), their docs and a
rebuild all agree, and no story's feed stops."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest

from liveblog.domain import Story
from liveblog.newsroom import Newsroom
from liveblog.rebuild import rebuild
from tests.integration.test_feed import TIMEOUT, Processes, open_stories
from tests.integration.test_views import EDITOR, REPORTER, fold_rows, views_rows


def record_unchecked(newsroom: Newsroom, story_id: UUID, event_class: type[Any],
                     **fields: Any) -> None:  # fmt: skip
    """Record an event as code before the rule did: straight on the aggregate, unchecked."""
    story = newsroom.get_story(story_id)
    story.trigger_event(event_class, actor_id=EDITOR.id, actor_name=EDITOR.name, **fields)
    newsroom.save(story)


def write_old_text(newsroom: Newsroom, story_id: UUID) -> UUID:
    """An edit, a post and a correction holding U+0000; returns the update's id."""
    update_id = uuid4()
    record_unchecked(newsroom, story_id, Story.Edited, title="Old\x00title", summary="s\x00")
    record_unchecked(newsroom, story_id, Story.UpdatePosted, update_id=update_id,
                     title="Nul\x00title", body="<p>Nul\x00body</p>", key_event=True,
                     pinned=False)  # fmt: skip
    record_unchecked(newsroom, story_id, Story.UpdateCorrected, update_id=update_id,
                     body="<p>Nul\x00again</p>", note="Nul\x00note")  # fmt: skip
    return update_id


class OldTextSuite:
    @pytest.fixture
    def processes(self, database_url: str) -> Iterator[Processes]:
        made = Processes(database_url)
        try:
            yield made
        finally:
            made.close_all()

    def test_old_text_projects_reads_back_and_rebuilds(self, processes: Processes) -> None:
        parts, recorder = processes.build(start=False)
        old, other = open_stories(parts.newsroom, 2)
        update_id = write_old_text(parts.newsroom, old)
        parts.newsroom.post_update(other, body="<p>Later, elsewhere.</p>", actor=REPORTER)

        parts.follower.start()
        assert parts.follower.catch_up(TIMEOUT)
        assert parts.follower.stories_needing_attention() == []
        assert views_rows(parts.views) == fold_rows(parts.newsroom)

        page = parts.views.story_page(old, 10)
        assert page is not None
        story = orjson.loads(page.render())
        assert (story["title"], story["summary"], story["version"]) == (
            "Old\ufffdtitle",
            "s\ufffd",
            4,
        )
        assert [k.title for k in page.key_events] == ["Nul\ufffdtitle"]
        doc = parts.views.update_doc(old, update_id)
        assert doc is not None
        update = orjson.loads(doc)
        assert (update["title"], update["body"]) == ("Nul\ufffdtitle", "<p>Nul\ufffdagain</p>")
        assert update["corrections"][0]["note"] == "Nul\ufffdnote"
        revisions = parts.views.revisions(old, update_id)
        assert [(r.body, r.note) for r in revisions] == [
            ("<p>Nul\ufffdbody</p>", None),
            ("<p>Nul\ufffdagain</p>", "Nul\ufffdnote"),
        ]
        # Live readers got the same text as the views hold.
        assert recorder.versions()[old] == [1, 2, 3, 4]

        # Later posts to either story keep flowing.
        parts.newsroom.post_update(old, body="<p>After.</p>", actor=REPORTER)
        parts.newsroom.post_update(other, body="<p>After.</p>", actor=REPORTER)
        assert parts.follower.catch_up(TIMEOUT)
        head = parts.views.story_head(old)
        assert head is not None
        assert head.version == 5

        incremental = parts.views.dump()
        parts.follower.stop()  # a rebuild runs with the feed stopped
        result = rebuild(parts.newsroom, parts.views)
        assert result.events == 5 + 3
        assert parts.views.dump() == incremental


class TestOldTextOnSQLite(OldTextSuite):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


@pytest.mark.postgres
class TestOldTextOnPostgreSQL(OldTextSuite):
    @pytest.fixture
    def database_url(self, fresh_postgres_url: str) -> str:
        return fresh_postgres_url
