"""Events that code before the newsroom-text rule recorded (U+0000 in a title, a body, a
note) still load, project and rebuild, on each backend: the fold shows U+0000 as U+FFFD,
so the views (whose PostgreSQL text columns cannot hold U+0000), their docs and a
rebuild all agree, and no story's feed stops."""

from __future__ import annotations

import orjson
import pytest

from liveblog.rebuild import rebuild
from tests.helpers import REPORTER
from tests.integration.processes import TIMEOUT, Processes, open_stories
from tests.integration.views_oracle import fold_rows, views_rows
from tests.old_text import write_old_text


class OldTextSuite:
    def test_old_text_projects_reads_back_and_rebuilds(self, processes: Processes) -> None:
        parts, recorder = processes.build(start=False)
        old, other = open_stories(parts.newsroom, 2)
        update_id = write_old_text(parts.newsroom, old)
        parts.newsroom.post_update(other, body="<p>Later, elsewhere.</p>", actor=REPORTER)

        parts.feed.start()
        assert parts.feed.catch_up(TIMEOUT)
        assert parts.feed.stories_needing_attention() == []
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
        assert parts.feed.catch_up(TIMEOUT)
        head = parts.views.story_head(old)
        assert head is not None
        assert head.version == 5

        incremental = parts.views.dump()
        parts.feed.stop()  # a rebuild runs with the feed stopped
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
