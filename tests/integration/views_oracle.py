"""The oracle of the views tests: what every view must hold, computed from the fold of
each story's stored events (``fold_rows``), what the views do hold in the same shape
(``views_rows``), and a scenario with every kind of event to compare them on."""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import UUID

import orjson

from liveblog.newsroom import Newsroom
from projections.story import StoryView, fold
from projections.views import ALL_VIEWS, REVISIONS, STORY_LIST, TIMELINE, ReadViews
from projections.wire import rfc3339, story_fields_json, update_json
from tests.helpers import EDITOR, OTHER_REPORTER, REPORTER

# A row of a view, as a dict of column → value with documents parsed and flags as bools.
Row = dict[str, Any]
Rows = dict[str, list[Row]]

_KEYS = {
    STORY_LIST: ("story_id",),
    TIMELINE: ("story_id", "sequence"),
    REVISIONS: ("story_id", "update_id", "revision"),
}
_COLUMNS = {
    STORY_LIST: ("story_id", "slug", "status", "version", "created_at", "fields_doc",
                 "list_doc"),
    TIMELINE: ("story_id", "update_id", "sequence", "pinned", "key_event", "status",
               "revision", "title", "published_at", "doc"),
    REVISIONS: ("story_id", "update_id", "revision", "at", "title", "body", "note", "by_id",
                "by_name", "kind", "reverted_to", "media"),
}  # fmt: skip
_DOCS = {"fields_doc", "list_doc", "doc"}
_FLAGS = {"pinned", "key_event"}
_NUMBERS = {"version", "sequence", "revision"}


def folded_stories(newsroom: Newsroom) -> list[StoryView]:
    stories = []
    for story_id in newsroom.story_ids():
        story = fold(newsroom.story_events(story_id))
        assert story is not None
        stories.append(story)
    return stories


def fold_rows(newsroom: Newsroom) -> Rows:
    """What every view must hold: computed from the fold of each story's stored events."""
    rows: Rows = {view: [] for view in ALL_VIEWS}
    for story in folded_stories(newsroom):
        fields = story_fields_json(story)
        updates = list(story.updates.values())
        rows[STORY_LIST].append(
            {
                "story_id": str(story.id),
                "slug": story.slug,
                "status": story.status,
                "version": story.version,
                "created_at": rfc3339(story.created_at),
                "fields_doc": fields,
                "list_doc": {
                    **fields,
                    "update_count": len(updates),
                    "last_update_at": rfc3339(updates[-1].published_at) if updates else None,
                },
            }
        )
        for update in updates:
            rows[TIMELINE].append(
                {
                    "story_id": str(story.id),
                    "update_id": str(update.id),
                    "sequence": update.sequence,
                    "pinned": update.pinned,
                    "key_event": update.key_event,
                    "status": update.status,
                    "revision": update.revision,
                    "title": update.title,
                    "published_at": rfc3339(update.published_at),
                    "doc": update_json(update),
                }
            )
            # All but the last revision of a published update whose last is its post or a
            # plain correction (its timeline doc shows that one); all the others'.
            last = update.revisions[-1].kind
            shown_in_doc = update.status == "published" and last in ("posted", "corrected")
            stored = update.revisions[:-1] if shown_in_doc else update.revisions
            for revision in stored:
                rows[REVISIONS].append(
                    {
                        "story_id": str(story.id),
                        "update_id": str(update.id),
                        "revision": revision.revision,
                        "at": rfc3339(revision.at),
                        "title": revision.title,
                        "body": revision.body,
                        "note": revision.note,
                        "by_id": revision.by.id,
                        "by_name": revision.by.name,
                        "kind": revision.kind,
                        "reverted_to": revision.reverted_to,
                        "media": list(revision.media) or None,
                    }
                )
    return _sorted(rows)


def rows_of(dumped: dict[str, list[tuple[Any, ...]]]) -> Rows:
    """``ReadViews.dump()`` in the oracle's shape (whatever the backend's column types)."""
    rows: Rows = {}
    for view in ALL_VIEWS:
        rows[view] = []
        for values in dumped[view]:
            row = dict(zip(_COLUMNS[view], values, strict=True))
            for column in row.keys() & _DOCS:
                row[column] = orjson.loads(row[column])
            for column in row.keys() & _FLAGS:
                row[column] = bool(row[column])
            for column in row.keys() & _NUMBERS:
                row[column] = int(row[column])
            if row.get("reverted_to") is not None:
                row["reverted_to"] = int(row["reverted_to"])
            if row.get("media") is not None:
                row["media"] = orjson.loads(row["media"])
            rows[view].append(row)
    return _sorted(rows)


def _sorted(rows: Rows) -> Rows:
    return {
        view: sorted(found, key=lambda row: tuple(row[k] for k in _KEYS[view]))
        for view, found in rows.items()
    }


def views_rows(views: ReadViews) -> Rows:
    return rows_of(views.dump())


# -- a story with every kind of event -----------------------------------------------------

IMAGE = {
    "type": "image",
    "url": "https://images.example/square.jpg",
    "alt": "The square",
    "caption": "Ala-Too Square at noon",
    "credit": None,
}
EMBED = {"type": "embed", "url": "https://www.youtube.com/watch?v=abc", "provider": "youtube"}


@dataclasses.dataclass(frozen=True)
class Scenario:
    story_ids: list[UUID]
    corrected: UUID  # posted, then corrected twice
    retracted: UUID  # posted, corrected, then retracted
    reason: str
    # Posted with an image, retitled, retracted, reinstated, corrected (with a video
    # instead), then reverted to revision 1.
    reinstated: UUID


def write_scenario(newsroom: Newsroom) -> Scenario:
    """Two stories with every kind of event: edits, closing, flags, corrections of the
    body, of the title and of the media, a revert, retractions and a reinstatement."""
    story = newsroom.open_story(
        slug="bishkek-protests", title="Protests in Bishkek", summary="", actor=EDITOR
    ).story_id
    other = newsroom.open_story(
        slug="election-annulled", title="Election results annulled", summary="Live.",
        actor=EDITOR,
    ).story_id  # fmt: skip
    first = newsroom.post_update(
        story, body="<p>Crowds gather on Ala-Too square.</p>", title="Crowds", actor=REPORTER,
        key_event=True,
    ).update_id  # fmt: skip
    second = newsroom.post_update(
        story, body="Parliament to convene at 16:00.", actor=OTHER_REPORTER, pinned=True
    ).update_id
    assert first is not None
    assert second is not None
    annulled = newsroom.post_update(
        other, body="The commission annuls the results.", actor=REPORTER
    ).update_id
    assert annulled is not None
    newsroom.correct_update(
        story, first, body="<p>Thousands gather on Ala-Too square.</p>", note="Crowd size",
        actor=REPORTER, as_editor=False,
    )  # fmt: skip
    newsroom.correct_update(
        story, first, body="<p>Thousands gather on Ala-Too Square.</p>", note="Spelling",
        actor=EDITOR, as_editor=True, expected_revision=2,
    )  # fmt: skip
    newsroom.correct_update(
        story, second, body="Parliament to convene at 17:00.", note="Time", actor=EDITOR,
        as_editor=True,
    )  # fmt: skip
    reason = "The session was not confirmed."
    newsroom.retract_update(story, second, reason=reason, actor=EDITOR)
    third = newsroom.post_update(
        story, body="<p>Roads to the square closed.</p>", title="Roads", actor=REPORTER,
        media=[IMAGE],
    ).update_id  # fmt: skip
    assert third is not None
    newsroom.correct_update(
        story, third, title="Roads closed", note="Headline", actor=REPORTER, as_editor=False
    )
    newsroom.retract_update(story, third, reason="Wrong square", actor=EDITOR)
    newsroom.reinstate_update(story, third, reason="It was the right square", actor=EDITOR)
    newsroom.correct_update(
        story, third, body="<p>Every road to the square closed.</p>", note="All roads",
        actor=EDITOR, as_editor=True, expected_revision=4, media=[EMBED],
    )  # fmt: skip
    newsroom.correct_update(
        story, third, title="Roads", body="<p>Roads to the square closed.</p>",
        note="Back to the first report", reverted_to=1, actor=EDITOR, as_editor=True,
        media=[IMAGE],
    )  # fmt: skip
    newsroom.flag_update(story, first, pinned=True, key_event=False, actor=EDITOR)
    newsroom.flag_update(story, first, pinned=False, key_event=None, actor=EDITOR)
    newsroom.edit_story(story, title="Protests in Bishkek after the vote", summary="Day 2",
                        actor=EDITOR)  # fmt: skip
    newsroom.close_story(story, actor=EDITOR)
    newsroom.reopen_story(story, actor=EDITOR)
    newsroom.post_update(story, body="Protesters free the former president.", actor=REPORTER)
    newsroom.correct_update(
        other, annulled, media=[EMBED], note="The announcement", actor=REPORTER,
        as_editor=False,
    )  # fmt: skip
    newsroom.close_story(other, actor=EDITOR)
    return Scenario(
        [story, other], corrected=first, retracted=second, reason=reason, reinstated=third
    )


def close_views(views: ReadViews, newsroom: Newsroom) -> None:
    """Close the views' datastore when it is their own (the in-memory store's views)."""
    if views.datastore is not getattr(newsroom.factory, "datastore", None):
        views.datastore.close()
