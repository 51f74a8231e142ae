"""The read API's queries of the views, and the rows they answer with.

A row's documents are the stored JSON text of ``projections.wire``: an answer splices
them in without parsing them again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson

from projections.story import CORRECTED, POSTED
from projections.views.schema import REVISIONS, STORY_LIST, TIMELINE
from projections.views.store import ViewStore, rows_of
from projections.wire import key_event_json, story_bytes


@dataclass(frozen=True)
class StoryHead:
    version: int
    fields_doc: str


@dataclass(frozen=True)
class TimelineRow:
    update_id: UUID
    sequence: int
    doc: str


@dataclass(frozen=True)
class KeyEventRow:
    update_id: UUID
    title: str
    published_at: str


@dataclass(frozen=True)
class RevisionRow:
    revision: int
    at: str
    title: str
    body: str
    note: str | None
    by_id: str
    by_name: str
    kind: str  # see ``projections.story.Revision``
    reverted_to: int | None = None
    media: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RevisionHistory:
    revisions: list[RevisionRow]
    shown: int | None  # the revision the update shows now; None: it is retracted


def shown_revision(doc: dict[str, Any]) -> RevisionRow | None:
    """The revision a published update shows, from its doc (the Update of DESIGN §4).

    Its text is the doc's; its time, note and author are its last correction's, or, if
    it has none, its publication's and its author (as ``projections.story`` makes them).
    """
    if doc["status"] != "published":
        return None
    corrections = doc["corrections"]
    last = corrections[-1] if corrections else None
    at = doc["published_at"] if last is None else last["at"]
    by = doc["author"] if last is None else last["by"]
    note = None if last is None else last["note"]
    kind = POSTED if last is None else CORRECTED
    # A doc stored before updates had media has none (until ``liveblog rebuild``).
    return RevisionRow(doc["revision"], at, doc["title"], doc["body"], note, by["id"],
                       by["name"], kind, None, doc.get("media", []))  # fmt: skip


@dataclass(frozen=True)
class UpdateStatusRow:
    sequence: int
    status: str
    revision: int


@dataclass(frozen=True)
class StoryPage:
    """Everything ``GET /api/stories/{story}`` shows, read in one transaction."""

    head: StoryHead
    pinned: list[str]
    key_events: list[KeyEventRow]
    updates: list[TimelineRow]
    has_more: bool

    def render(self) -> bytes:
        """The Story JSON of DESIGN §4 (first page of updates), made from stored rows."""
        return story_bytes(
            self.head.fields_doc,
            self.pinned,
            [key_event_json(k.update_id, k.title, k.published_at) for k in self.key_events],
            [row.doc for row in self.updates],
            self.updates[-1].update_id if self.has_more else None,
        )


class ViewQueries(ViewStore):
    """``ReadViews``' reads."""

    def story_head(self, story_id: UUID) -> StoryHead | None:
        with self._transaction(commit=False) as cursor:
            return self._head(cursor, story_id)

    def _head(self, cursor: Any, story_id: UUID) -> StoryHead | None:
        cursor.execute(
            self.dialect.sql(
                "SELECT version, fields_doc FROM {t}liveblog_story_list WHERE story_id = ?"
            ),
            (str(story_id),),
        )
        row = cursor.fetchone()
        return None if row is None else StoryHead(int(row["version"]), row["fields_doc"])

    def story_page(self, story_id: UUID, limit: int) -> StoryPage | None:
        """The story's head, pinned updates, key events and newest page, consistently."""
        with self._transaction(commit=False, snapshot=True) as cursor:
            head = self._head(cursor, story_id)
            if head is None:
                return None
            cursor.execute(
                self.dialect.sql(
                    "SELECT update_id, sequence, pinned, key_event, title, published_at, doc"
                    " FROM {t}liveblog_timeline WHERE story_id = ? AND (pinned OR key_event)"
                    " ORDER BY sequence DESC"
                ),
                (str(story_id),),
            )
            flagged = rows_of(cursor)
            page = self._timeline(cursor, story_id, None, limit + 1, key_events_only=False)
        return StoryPage(
            head=head,
            pinned=[row["doc"] for row in flagged if row["pinned"]],
            key_events=[
                KeyEventRow(UUID(row["update_id"]), row["title"], row["published_at"])
                for row in flagged
                if row["key_event"]
            ],
            updates=page[:limit],
            has_more=len(page) > limit,
        )

    def timeline(
        self, story_id: UUID, *, before_sequence: int | None, limit: int, key_events_only: bool
    ) -> list[TimelineRow]:
        with self._transaction(commit=False) as cursor:
            return self._timeline(cursor, story_id, before_sequence, limit, key_events_only)

    def _timeline(
        self, cursor: Any, story_id: UUID, before_sequence: int | None, limit: int,
        key_events_only: bool,
    ) -> list[TimelineRow]:  # fmt: skip
        clauses = ["story_id = ?"]
        params: list[Any] = [str(story_id)]
        if before_sequence is not None:
            clauses.append("sequence < ?")
            params.append(before_sequence)
        if key_events_only:
            clauses.append("key_event")
        params.append(limit)
        cursor.execute(
            self.dialect.sql(
                "SELECT update_id, sequence, doc FROM {t}liveblog_timeline"
                f" WHERE {' AND '.join(clauses)} ORDER BY sequence DESC LIMIT ?"
            ),
            params,
        )
        return [
            TimelineRow(UUID(row["update_id"]), int(row["sequence"]), row["doc"])
            for row in rows_of(cursor)
        ]

    def update_doc(self, story_id: UUID, update_id: UUID) -> str | None:
        with self._transaction(commit=False) as cursor:
            cursor.execute(
                self.dialect.sql(
                    "SELECT doc FROM {t}liveblog_timeline WHERE story_id = ? AND update_id = ?"
                ),
                (str(story_id), str(update_id)),
            )
            row = cursor.fetchone()
        return None if row is None else str(row["doc"])

    def update_status(self, story_id: UUID, update_id: UUID) -> UpdateStatusRow | None:
        with self._transaction(commit=False) as cursor:
            cursor.execute(
                self.dialect.sql(
                    "SELECT sequence, status, revision FROM {t}liveblog_timeline"
                    " WHERE story_id = ? AND update_id = ?"
                ),
                (str(story_id), str(update_id)),
            )
            row = cursor.fetchone()
        if row is None:
            return None
        return UpdateStatusRow(int(row["sequence"]), row["status"], int(row["revision"]))

    def revisions(self, story_id: UUID, update_id: UUID) -> list[RevisionRow]:
        """``revision_history``'s revisions; none for an update the views do not hold."""
        history = self.revision_history(story_id, update_id)
        return [] if history is None else history.revisions

    def revision_history(self, story_id: UUID, update_id: UUID) -> RevisionHistory | None:
        """Every revision of an update, oldest first, and the one it shows now, read in
        one snapshot (None: the views hold no such update).

        The revisions are those the revisions view stores and, if the update is
        published, the one it shows, read from its timeline doc when the view does not
        store it (see ``rows.stored_revisions``). Rows stored before revisions had a kind
        have none: they can only have been a post (revision 1) or a correction.
        """
        key = (str(story_id), str(update_id))
        with self._transaction(commit=False, snapshot=True) as cursor:
            cursor.execute(
                self.dialect.sql(
                    "SELECT revision, at, title, body, note, by_id, by_name, kind, reverted_to,"
                    " media FROM {t}liveblog_revisions WHERE story_id = ? AND update_id = ?"
                ),
                key,
            )
            found = {
                int(row["revision"]): RevisionRow(
                    int(row["revision"]), row["at"], row["title"], row["body"], row["note"],
                    row["by_id"], row["by_name"],
                    row["kind"] or (POSTED if int(row["revision"]) == 1 else CORRECTED),
                    None if row["reverted_to"] is None else int(row["reverted_to"]),
                    [] if row["media"] is None else orjson.loads(row["media"]),
                )
                for row in rows_of(cursor)
            }  # fmt: skip
            cursor.execute(
                self.dialect.sql(
                    "SELECT doc FROM {t}liveblog_timeline WHERE story_id = ? AND update_id = ?"
                ),
                key,
            )
            timeline = cursor.fetchone()
        if timeline is None:
            return None
        doc = orjson.loads(timeline["doc"])
        shown = shown_revision(doc)
        if shown is not None:
            found.setdefault(shown.revision, shown)
        revisions = [found[number] for number in sorted(found)]
        return RevisionHistory(
            revisions, doc["revision"] if doc["status"] == "published" else None
        )

    def story_list(self, status: str | None) -> list[str]:
        """List documents of the stories, oldest first, optionally of one status."""
        statement = "SELECT list_doc FROM {t}liveblog_story_list"
        params: tuple[Any, ...] = ()
        if status is not None:
            statement += " WHERE status = ?"
            params = (status,)
        with self._transaction(commit=False) as cursor:
            cursor.execute(self.dialect.sql(statement + " ORDER BY created_at, story_id"), params)
            return [row["list_doc"] for row in rows_of(cursor)]

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every view, sorted: for comparing a rebuild with the original."""
        queries = {
            STORY_LIST: "SELECT * FROM {t}liveblog_story_list ORDER BY story_id",
            TIMELINE: "SELECT * FROM {t}liveblog_timeline ORDER BY story_id, sequence",
            REVISIONS: "SELECT * FROM {t}liveblog_revisions"
            " ORDER BY story_id, update_id, revision",
        }
        dumped: dict[str, list[tuple[Any, ...]]] = {}
        with self._transaction(commit=False) as cursor:
            for view, query in queries.items():
                cursor.execute(self.dialect.sql(query))
                dumped[view] = [tuple(dict(row).values()) for row in rows_of(cursor)]
        return dumped
