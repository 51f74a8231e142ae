"""Each view's row: the values made from the fold's states, and the upsert that stores them.

The feed and a rebuild both write rows made here, so that the two cannot differ (a
test compares a rebuilt database with the original, row for row). A row's values are in
the order of its upsert's columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from projections.story import CORRECTED, POSTED, Revision, StoryView, UpdateView
from projections.views.store import Dialect
from projections.wire import UpdateText, listed_story_json, rfc3339, story_fields_json

# A rebuild writes each INSERT statement with up to this many parameters (rows × columns).
# The sqlite3 module lets go of the GIL while a statement runs, and takes it back after;
# with the folding thread holding it, each take back waits up to the switch interval
# (5 ms). Per row (executemany) that made the writer thread many times slower; a few
# large statements per chunk wait a few times. Below the limits of SQLite (32,766) and
# PostgreSQL (65,535).
BULK_PARAMETERS = 30_000


@dataclass(frozen=True)
class Upsert:
    """One view's upsert, for one row or for many in one statement."""

    into: str  # "INSERT INTO … (columns)"
    width: int  # the number of columns
    on_conflict: str

    def sql(self, rows: int) -> str:
        one = "(" + ", ".join("?" * self.width) + ")"
        return f"{self.into} VALUES {', '.join([one] * rows)} {self.on_conflict}"

    def write(self, cursor: Any, dialect: Dialect, rows: list[tuple[Any, ...]]) -> None:
        """``rows`` with one statement run for each."""
        cursor.executemany(dialect.sql(self.sql(1)), rows)

    def write_in_bulk(self, cursor: Any, dialect: Dialect, rows: Sequence[Sequence[Any]]) -> None:
        """``rows`` in statements of up to ``BULK_PARAMETERS`` parameters each.

        The rows must not repeat a key: PostgreSQL refuses to upsert a row twice in one
        statement.
        """
        size = max(1, BULK_PARAMETERS // self.width)
        for start in range(0, len(rows), size):
            part = rows[start : start + size]
            cursor.execute(dialect.sql(self.sql(len(part))), [v for row in part for v in row])


STORY_ROWS = Upsert(
    "INSERT INTO {t}liveblog_story_list"
    " (story_id, slug, status, version, created_at, fields_doc, list_doc)",
    7,
    "ON CONFLICT (story_id) DO UPDATE SET status = excluded.status,"
    " version = excluded.version, fields_doc = excluded.fields_doc,"
    " list_doc = excluded.list_doc",
)
TIMELINE_ROWS = Upsert(
    "INSERT INTO {t}liveblog_timeline (story_id, update_id, sequence, pinned,"
    " key_event, status, revision, title, published_at, doc)",
    10,
    "ON CONFLICT (story_id, update_id) DO UPDATE SET pinned = excluded.pinned,"
    " key_event = excluded.key_event, status = excluded.status,"
    " revision = excluded.revision, title = excluded.title, doc = excluded.doc",
)
REVISION_ROWS = Upsert(
    "INSERT INTO {t}liveblog_revisions"
    " (story_id, update_id, revision, at, title, body, note, by_id, by_name, kind,"
    " reverted_to, media)",
    12,
    "ON CONFLICT DO NOTHING",
)


class IdTexts(dict[UUID, str]):
    """``str(UUID)`` once per id within a batch (it costs more than a dict lookup)."""

    def __missing__(self, key: UUID) -> str:
        text = self[key] = str(key)
        return text


def _doc(payload: Any) -> str:
    return orjson.dumps(payload).decode()


def story_row(story: StoryView, texts: IdTexts) -> tuple[Any, ...]:
    """A story list row: its fields' doc (for the Story) and its listed doc."""
    fields = story_fields_json(story)
    return (texts[story.id], story.slug, story.status, story.version,
            rfc3339(story.created_at), _doc(fields),
            _doc(listed_story_json(story, fields)))  # fmt: skip


def timeline_row(
    u: UpdateView | UpdateText, story_id: UUID | str, update_id: UUID | str,
    published: datetime | str, doc: str,
) -> tuple[Any, ...]:  # fmt: skip
    """A timeline row; the ids, the publication time and the doc as the text stored."""
    return (story_id, update_id, u.sequence, u.pinned, u.key_event, u.status, u.revision,
            u.title, published, doc)  # fmt: skip


def revision_row(
    story_id: UUID | str, update_id: UUID | str, r: Revision, at: datetime | str
) -> tuple[Any, ...]:
    """A revisions row; the ids and ``at`` as for ``timeline_row``, the media as JSON
    text (NULL when there are none, as in rows stored before updates had media)."""
    return (story_id, update_id, r.revision, at, r.title, r.body, r.note, r.by.id,
            r.by.name, r.kind, r.reverted_to, _doc(r.media) if r.media else None)  # fmt: skip


def stored_revisions(update: UpdateView) -> int:
    """How many of ``update.revisions`` (the first ones) the revisions view stores.

    All but the one the update shows, when its doc can tell that revision: a published
    update's timeline doc holds its current title, body and last correction, and
    ``ReadViews.revisions`` reads its post or last plain correction from there. So a
    post's body is stored once, not twice, and posting writes one row, not two. A
    retracted update shows no body, and a revert or a reinstatement is more than the doc
    tells: then all its revisions are stored.

    The count never goes down as revisions are added (the rebuild relies on it), and
    goes up by at most two with one event (a retraction or a revert of a plain
    correction: the one shown until then, and the new one).
    """
    shown_in_doc = update.status == "published" and update.revisions[-1].kind in SHOWN_IN_DOC
    return len(update.revisions) - shown_in_doc


# The kinds of revision a published update's doc tells (see ``stored_revisions``).
SHOWN_IN_DOC = frozenset({POSTED, CORRECTED})
