"""Persisted read models: the story list, each story's timeline, each update's revisions.

Rows are written from the fold's states (``projections.states``), in one transaction per
batch of events together with each view's tracking position, so a batch is applied
exactly once: a batch at or behind a view's recorded position changes nothing. The same
SQL runs on SQLite and PostgreSQL, through the eventsourcing library's datastores (and so
in the same database, and connection pool, as the events).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol
from uuid import UUID

import orjson

from projections.states import Applied
from projections.story import Revision, StoryView, UpdateView
from projections.wire import (
    UpdateText,
    id_for_orjson,
    rfc3339,
    story_fields_json,
    time_for_orjson,
    update_doc,
    update_doc_of_text,
)

STORY_LIST = "story_list"
TIMELINE = "timeline"
REVISIONS = "revisions"
ALL_VIEWS: tuple[str, ...] = (STORY_LIST, TIMELINE, REVISIONS)


@dataclass
class Changes:
    """What a batch of events changed, reduced to the final rows to write."""

    last_notification_id: int = 0
    stories: dict[UUID, StoryView] = field(default_factory=dict)
    updates: dict[tuple[UUID, UUID], UpdateView] = field(default_factory=dict)
    revisions: list[tuple[UUID, UUID, Revision]] = field(default_factory=list)

    def add(self, applied: Applied) -> None:
        self.last_notification_id = max(self.last_notification_id, applied.notification_id)
        self.stories[applied.story_id] = applied.story
        update = applied.update
        if update is None:
            return
        self.updates[(applied.story_id, update.id)] = update
        # A correction supersedes the revision shown until then, a retraction the last
        # one: each adds one revision to those the view stores (``stored_revisions``).
        if applied.name in ("update.corrected", "update.retracted"):
            superseded = update.revisions[stored_revisions(update) - 1]
            self.revisions.append((applied.story_id, update.id, superseded))

    def of_stories(self, keep: Callable[[UUID], bool]) -> Changes:
        """The rows of only the stories that ``keep`` says yes to, at the same position."""
        return Changes(
            self.last_notification_id,
            {story_id: story for story_id, story in self.stories.items() if keep(story_id)},
            {key: update for key, update in self.updates.items() if keep(key[0])},
            [revision for revision in self.revisions if keep(revision[0])],
        )


def stored_revisions(update: UpdateView) -> int:
    """How many of ``update.revisions`` (the first ones) the revisions view stores.

    All but the one the update shows: a published update's timeline doc holds its current
    title, body and last correction, and ``ReadViews.revisions`` reads that revision from
    there. So a post's body is stored once, not twice, and posting writes one row, not
    two. A retracted update shows no body: all its revisions are stored.
    """
    return len(update.revisions) - (update.status == "published")


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
    return RevisionRow(doc["revision"], at, doc["title"], doc["body"], note, by["id"],
                       by["name"])  # fmt: skip


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
        rest = orjson.dumps(
            {
                "pinned": [orjson.Fragment(doc) for doc in self.pinned],
                "key_events": [
                    {"id": str(k.update_id), "title": k.title, "published_at": k.published_at}
                    for k in self.key_events
                ],
                "updates": [orjson.Fragment(row.doc) for row in self.updates],
                "next": str(self.updates[-1].update_id) if self.has_more else None,
            }
        )
        # The head is a stored JSON object: splice the lists in rather than parse it again.
        return self.head.fields_doc.encode()[:-1] + b"," + rest[1:]


class Dialect:
    """The few differences between SQLite and PostgreSQL that our SQL meets."""

    def __init__(self, name: str, schema: str | None = None) -> None:
        self.name = name
        self.prefix = f'"{schema}".' if schema else ""

    def sql(self, statement: str) -> str:
        text = statement.replace("{t}", self.prefix)
        return text.replace("?", "%s") if self.name == "postgresql" else text


def _doc(payload: Any) -> str:
    return orjson.dumps(payload).decode()


def _rows_of(cursor: Any) -> list[Any]:
    return list(cursor.fetchall())


# A rebuild writes each INSERT statement with up to this many parameters (rows × columns).
# The sqlite3 module lets go of the GIL while a statement runs, and takes it back after;
# with the folding thread holding it, each take back waits up to the switch interval
# (5 ms). Per row (executemany) that made the writer thread many times slower; a few
# large statements per chunk wait a few times. Below the limits of SQLite (32,766) and
# PostgreSQL (65,535).
BULK_PARAMETERS = 30_000


class _IdTexts(dict[UUID, str]):
    """``str(UUID)`` once per id within a batch (it costs more than a dict lookup)."""

    def __missing__(self, key: UUID) -> str:
        text = self[key] = str(key)
        return text


def _story_row(story: StoryView, texts: _IdTexts) -> tuple[Any, ...]:
    fields = story_fields_json(story)
    last = next(reversed(story.updates.values()), None)
    listed = {
        **fields,
        "update_count": len(story.updates),
        "last_update_at": rfc3339(last.published_at) if last else None,
    }
    return (texts[story.id], story.slug, story.status, story.version,
            rfc3339(story.created_at), _doc(fields), _doc(listed))  # fmt: skip


def _timeline_row(
    u: UpdateView | UpdateText, story_id: UUID | str, update_id: UUID | str,
    published: datetime | str, doc: str,
) -> tuple[Any, ...]:  # fmt: skip
    """A timeline row; the ids, the publication time and the doc as the text stored."""
    return (story_id, update_id, u.sequence, u.pinned, u.key_event, u.status, u.revision,
            u.title, published, doc)  # fmt: skip


def _revision_row(
    story_id: UUID | str, update_id: UUID | str, r: Revision, at: datetime | str
) -> tuple[Any, ...]:
    """A revisions row; the ids and ``at`` as for ``_timeline_row``."""
    return (story_id, update_id, r.revision, at, r.title, r.body, r.note, r.by.id,
            r.by.name)  # fmt: skip


# A rebuild commits every this many notifications, and in halving chunks near the end.
# Each commit records the views' positions with their rows, so a rebuild that stops
# half-way leaves consistent views a follower can continue. Large, so that commits (and
# their WAL checkpoints) are few; the halving keeps the last chunk's write, which
# nothing overlaps, short.
REBUILD_CHUNK = 20_000
# The first chunk is this many notifications, and each next one twice the last, up to
# REBUILD_CHUNK: the writer starts early, instead of waiting for a whole chunk's fold.
REBUILD_FIRST_CHUNK = 2_000

# While it rebuilds, SQLite's page cache for the writing connection (KiB), so that the
# views' indexes stay in memory as they grow.
REBUILD_CACHE_KIB = 256 * 1024

Transaction = Callable[[], AbstractContextManager[Any]]


# How many chunks a rebuild lets its writer hold, sent and not yet waited for: the one
# being written and the next, so that the writer never waits for the fold between two.
CHUNKS_IN_FLIGHT = 2


class ChunkWriter(Protocol):
    """Where a rebuild's chunks go: each is written with ``ReadViews.write_chunk`` in a
    transaction of its own, in the order sent. Up to ``CHUNKS_IN_FLIGHT`` are outstanding."""

    def send(self, frame: bytes) -> None:
        """Queue one chunk to be written (a frame made by ``Rebuilding``)."""

    def wait(self) -> None:
        """Return once the oldest chunk not waited for is committed; raise what writing
        it, or a chunk before it, raised."""

    def close(self) -> None:
        """Stop, after the chunk being written, if any; a chunk not waited for may be lost."""


class Rebuilding:
    """A rebuild's writes: rows made from the fold's states, written by a ``ChunkWriter``.

    The caller (``liveblog.rebuild``) adds each applied event and says where each page
    ends. Every chunk of notifications (growing from ``REBUILD_FIRST_CHUNK`` to
    ``REBUILD_CHUNK``, and halving near the end), the rows of what changed since the last
    chunk are made here, each row once with its newest value (the fold changes its states
    in place, so the objects held here hold the newest values), and sent, as one frame,
    to the writer, which writes them with the views' positions in one transaction while
    this thread decodes and folds the next chunks.

    A frame (``make_frame``) is JSON made by orjson, which writes UUIDs and UTC times
    itself, as ``str`` and ``rfc3339`` would (formatting them in Python was a third of the
    rows' cost). It holds the story list's and the revisions' rows, and each changed
    update's fields (``frame_update``): the writer makes the timeline's rows and docs
    from them, so that this thread, which also reads and folds the log, does not.
    """

    def __init__(self, names: Sequence[str], writer: ChunkWriter, top: int = 0) -> None:
        self._names = frozenset(names)
        self._writer = writer
        self._top = top  # the last notification to come, if known (0: not known)
        # Keyed by id(): the values keep the objects alive, and a dict of ints is cheaper
        # than hashing UUIDs (the views are unhashable dataclasses).
        self._stories: dict[int, StoryView] = {}
        self._updates: dict[int, UpdateView] = {}
        self._revisions_written: dict[int, int] = {}
        self._position = 0
        self._committed = 0  # the position of the last chunk handed to the writer
        self._drop = True  # the first chunk empties the views first, in its transaction
        self._chunk = min(REBUILD_FIRST_CHUNK, REBUILD_CHUNK)  # the next chunk's size
        self._in_flight = 0  # chunks sent and not waited for

    def add(self, story: StoryView, update: UpdateView | None) -> None:
        """One event applied: ``story`` is its state, ``update`` the update it touched."""
        self._stories[id(story)] = story
        if update is not None:
            self._updates[id(update)] = update

    def page_done(self, position: int) -> None:
        """Every event up to notification ``position`` has been added."""
        self._position = position
        pending = position - self._committed
        # Near the end, chunks halve: nothing overlaps the last chunk's write, so the
        # last should be small (a page), not up to REBUILD_CHUNK.
        half_of_the_rest = (self._top - self._committed) // 2  # 0: top unknown or reached
        if pending >= self._chunk or 0 < half_of_the_rest <= pending:
            self._hand_over()

    def finish(self) -> None:
        """Write what is left, and wait until every chunk is committed."""
        if self._drop or self._position > self._committed:
            self._hand_over()
        while self._in_flight:
            self._wait_for_one()

    def _hand_over(self) -> None:
        frame = make_frame(self._drop, self._position, self._rows())
        self._stories, self._updates = {}, {}
        if self._in_flight >= CHUNKS_IN_FLIGHT:
            self._wait_for_one()
        self._writer.send(frame)
        self._in_flight += 1
        self._drop = False
        self._committed = self._position
        self._chunk = min(self._chunk * 2, REBUILD_CHUNK)

    def _rows(self) -> ChunkRows:
        """The story list's and the revisions' rows of this chunk, and its updates."""
        names = self._names
        texts = _IdTexts()
        story_rows = (
            [_story_row(s, texts) for s in self._stories.values()] if STORY_LIST in names else []
        )
        updates = [frame_update(u) for u in self._updates.values()] if TIMELINE in names else []
        revision_rows: list[tuple[Any, ...]] = []
        if REVISIONS in names:
            written = self._revisions_written
            for u in self._updates.values():
                # The stored revisions only ever grow (on a correction or a retraction),
                # so those past the count already written are the new ones.
                done, stored = written.get(id(u), 0), stored_revisions(u)
                if done < stored:
                    story_id, update_id = id_for_orjson(u.story_id), id_for_orjson(u.id)
                    for r in u.revisions[done:stored]:
                        at = time_for_orjson(r.at)
                        revision_rows.append(_revision_row(story_id, update_id, r, at))
                    written[id(u)] = stored
        return ChunkRows(story_rows, updates, revision_rows)

    def _wait_for_one(self) -> None:
        self._in_flight -= 1
        self._writer.wait()


class ChunkRows(NamedTuple):
    """A chunk's story-list and revisions rows, and its updates for the timeline."""

    story_rows: list[tuple[Any, ...]]
    updates: list[tuple[Any, ...]]  # each made by ``frame_update``
    revision_rows: list[tuple[Any, ...]]


def make_frame(drop: bool, position: int, chunk: ChunkRows) -> bytes:
    """One chunk for a ``ChunkWriter`` (read back by ``read_frame``)."""
    return orjson.dumps(
        [drop, position, chunk.story_rows, chunk.updates, chunk.revision_rows],
        option=orjson.OPT_UTC_Z,
    )


def read_frame(frame: bytes) -> tuple[bool, int, list[Any], list[UpdateText], list[Any]]:
    """A frame's drop flag, position, story-list rows, updates and revisions rows."""
    drop, position, story_rows, updates, revision_rows = orjson.loads(frame)
    return drop, position, story_rows, [UpdateText._make(u) for u in updates], revision_rows


def frame_update(u: UpdateView) -> tuple[Any, ...]:
    """An update as a frame carries it, to be read back as a ``wire.UpdateText``: its ids
    and times as orjson writes them (see ``wire.id_for_orjson`` and
    ``wire.time_for_orjson``), people as ``(id, name)``."""
    r = u.retraction
    return (
        id_for_orjson(u.id), id_for_orjson(u.story_id), u.sequence, u.title, u.body,
        (u.author.id, u.author.name), u.key_event, u.pinned, u.status,
        time_for_orjson(u.published_at), time_for_orjson(u.updated_at), u.revision,
        [(time_for_orjson(c.at), c.note, (c.by.id, c.by.name)) for c in u.corrections],
        None if r is None else (time_for_orjson(r.at), r.reason, (r.by.id, r.by.name)),
    )  # fmt: skip


class ThreadChunkWriter:
    """Writes chunks on a second thread of this process.

    The database does most of the work without the GIL, so it overlaps the fold; but the
    timeline's docs are made and the rows' parameters bound with the GIL held, which
    slows the fold. A large rebuild
    on a SQLite file uses a second process instead (``liveblog.rebuild_writer``).
    """

    def __init__(self, views: ReadViews, transaction: Transaction, names: Sequence[str]) -> None:
        self._views = views
        self._transaction = transaction
        self._names = list(names)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="liveblog-rebuild")
        self._writing: deque[Future[None]] = deque()
        self._failed = False

    def send(self, frame: bytes) -> None:
        self._writing.append(self._executor.submit(self._write, frame))

    def wait(self) -> None:
        if self._writing:
            self._writing.popleft().result()  # raises what the writer raised

    def _write(self, frame: bytes) -> None:
        if self._failed:  # chunks commit in order: none after one that failed
            msg = "an earlier chunk of this rebuild failed"
            raise RuntimeError(msg)
        try:
            with self._transaction() as cursor:
                self._views.write_chunk(cursor, self._names, frame)
        except BaseException:
            self._failed = True
            raise

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class _Insert:
    """One view's upsert, for one row or for many in one statement."""

    into: str  # "INSERT INTO … (columns)"
    width: int  # the number of columns
    on_conflict: str

    def sql(self, rows: int) -> str:
        one = "(" + ", ".join("?" * self.width) + ")"
        return f"{self.into} VALUES {', '.join([one] * rows)} {self.on_conflict}"


_STORY_ROWS = _Insert(
    "INSERT INTO {t}liveblog_story_list"
    " (story_id, slug, status, version, created_at, fields_doc, list_doc)",
    7,
    "ON CONFLICT (story_id) DO UPDATE SET status = excluded.status,"
    " version = excluded.version, fields_doc = excluded.fields_doc,"
    " list_doc = excluded.list_doc",
)
_TIMELINE_ROWS = _Insert(
    "INSERT INTO {t}liveblog_timeline (story_id, update_id, sequence, pinned,"
    " key_event, status, revision, title, published_at, doc)",
    10,
    "ON CONFLICT (story_id, update_id) DO UPDATE SET pinned = excluded.pinned,"
    " key_event = excluded.key_event, status = excluded.status,"
    " revision = excluded.revision, title = excluded.title, doc = excluded.doc",
)
_REVISION_ROWS = _Insert(
    "INSERT INTO {t}liveblog_revisions"
    " (story_id, update_id, revision, at, title, body, note, by_id, by_name)",
    9,
    "ON CONFLICT DO NOTHING",
)


class ReadViews:
    """The three views and their tracking, on one datastore of the library."""

    def __init__(self, datastore: Any, dialect: Dialect) -> None:
        self.datastore = datastore
        self.dialect = dialect
        # SQLite only: (WAL mode?, the pool's synchronous level), read once (see _relaxed).
        self._sqlite_settings: tuple[bool, int] | None = None

    # -- schema ----------------------------------------------------------------------

    def create_tables(self) -> None:
        statements = [
            "CREATE TABLE IF NOT EXISTS {t}liveblog_tracking ("
            " view TEXT PRIMARY KEY, notification_id BIGINT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {t}liveblog_story_list ("
            " story_id TEXT PRIMARY KEY, slug TEXT NOT NULL, status TEXT NOT NULL,"
            " version BIGINT NOT NULL, created_at TEXT NOT NULL, fields_doc TEXT NOT NULL,"
            " list_doc TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {t}liveblog_timeline ("
            " story_id TEXT NOT NULL, update_id TEXT NOT NULL, sequence BIGINT NOT NULL,"
            " pinned BOOLEAN NOT NULL, key_event BOOLEAN NOT NULL, status TEXT NOT NULL,"
            " revision BIGINT NOT NULL, title TEXT NOT NULL, published_at TEXT NOT NULL,"
            " doc TEXT NOT NULL, PRIMARY KEY (story_id, update_id))",
            "CREATE UNIQUE INDEX IF NOT EXISTS liveblog_timeline_by_sequence"
            " ON {t}liveblog_timeline (story_id, sequence)",
            "CREATE TABLE IF NOT EXISTS {t}liveblog_revisions ("
            " story_id TEXT NOT NULL, update_id TEXT NOT NULL, revision BIGINT NOT NULL,"
            " at TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL, note TEXT,"
            " by_id TEXT NOT NULL, by_name TEXT NOT NULL,"
            " PRIMARY KEY (story_id, update_id, revision))",
        ]
        with self._transaction(commit=True) as cursor:
            for statement in statements:
                cursor.execute(self.dialect.sql(statement))

    def drop(self, views: Iterable[str] = ALL_VIEWS) -> None:
        """Empty the given views and forget their positions (for a rebuild)."""
        with self._transaction(commit=True) as cursor:
            self._drop(cursor, views)

    def _drop(self, cursor: Any, views: Iterable[str]) -> None:
        tables = {STORY_LIST: "liveblog_story_list", TIMELINE: "liveblog_timeline",
                  REVISIONS: "liveblog_revisions"}  # fmt: skip
        for view in views:
            cursor.execute(self.dialect.sql(f"DELETE FROM {{t}}{tables[view]}"))
            cursor.execute(
                self.dialect.sql("DELETE FROM {t}liveblog_tracking WHERE view = ?"), (view,)
            )

    # -- positions -------------------------------------------------------------------

    def positions(self) -> dict[str, int]:
        with self._transaction(commit=False) as cursor:
            cursor.execute(
                self.dialect.sql("SELECT view, notification_id FROM {t}liveblog_tracking")
            )
            found = {row["view"]: int(row["notification_id"]) for row in _rows_of(cursor)}
        return {view: found.get(view, 0) for view in ALL_VIEWS}

    def position(self, views: Sequence[str] = ALL_VIEWS) -> int:
        """The position every given view has reached."""
        positions = self.positions()
        return min(positions[view] for view in views)

    # -- writing ---------------------------------------------------------------------

    def write(self, changes: Changes, views: Sequence[str] = ALL_VIEWS) -> set[str]:
        """Write a batch's rows and positions in one transaction; return the views written.

        A view whose recorded position is already at or past the batch is left alone, so
        a batch is applied to each view once, however often it is offered. Each view's
        position is moved before its rows are written: a racing process waits on that
        row, then finds itself behind and skips the view.
        """
        written: set[str] = set()
        if not changes.last_notification_id:
            return written
        writers = self._row_writers(changes)
        with self._derived_write() as cursor:
            for view in views:
                if self._advance(cursor, view, changes.last_notification_id):
                    writers[view](cursor)
                    written.add(view)
        return written

    def _row_writers(self, changes: Changes) -> dict[str, Callable[[Any], None]]:
        """Each view's writer of ``changes``' rows, given a cursor."""
        texts = _IdTexts()
        return {
            STORY_LIST: lambda cursor: self._write_stories(
                cursor, [_story_row(s, texts) for s in changes.stories.values()]
            ),
            TIMELINE: lambda cursor: self._write_timeline(
                cursor,
                [
                    _timeline_row(
                        u,
                        texts[u.story_id],
                        texts[u.id],
                        rfc3339(u.published_at),
                        update_doc(u),
                    )
                    for u in changes.updates.values()
                ],
            ),
            REVISIONS: lambda cursor: self._write_revisions(
                cursor,
                [
                    _revision_row(texts[s], texts[u], r, rfc3339(r.at))
                    for s, u, r in changes.revisions
                ],
            ),
        }

    def check_storable(self, changes: Changes, views: Sequence[str] = ALL_VIEWS) -> None:
        """Raise what writing ``changes``' rows would raise; change nothing.

        The rows are written, whatever the views' positions, in a transaction that is
        rolled back: the follower finds out so which story of a batch the views cannot
        store (a database names no row in its error).
        """
        writers = self._row_writers(changes)
        with self._transaction(commit=False) as cursor:
            for view in views:
                writers[view](cursor)

    @contextlib.contextmanager
    def rebuilding(
        self, views: Sequence[str] = ALL_VIEWS, *, writer: ChunkWriter | None = None,
        top: int = 0,
    ) -> Iterator[Rebuilding]:  # fmt: skip
        """Empty ``views`` and write them again from what is added (see ``Rebuilding``),
        up to notification ``top`` if it is known.

        The chunks go to ``writer``, by default a ``ThreadChunkWriter`` on this object.
        The first commit empties the views; until then readers see the old rows.
        """
        with contextlib.ExitStack() as stack:
            if writer is None:
                transaction = stack.enter_context(self.rebuild_transactions())
                writer = ThreadChunkWriter(self, transaction, views)
            stack.callback(writer.close)
            rebuilding = Rebuilding(views, writer, top)
            yield rebuilding
            rebuilding.finish()

    def write_chunk(self, cursor: Any, views: Sequence[str], frame: bytes) -> None:
        """Write one chunk of a rebuild (a frame made by ``Rebuilding``) with ``cursor``.

        The rows need no further formatting: the frame's JSON holds ids and times as the
        text the views store. The timeline's docs are made here, from the frame's updates.
        """
        drop, position, story_rows, updates, revision_rows = read_frame(frame)
        timeline_rows = [
            _timeline_row(u, u.story_id, u.id, u.published_at, update_doc_of_text(u))
            for u in updates
        ]
        if drop:
            self._drop(cursor, sorted(views))
        self._write_in_bulk(cursor, _STORY_ROWS, story_rows)
        self._write_in_bulk(cursor, _TIMELINE_ROWS, timeline_rows)
        self._write_in_bulk(cursor, _REVISION_ROWS, revision_rows)
        if position:  # an empty log leaves no positions, as the follower would
            for view in ALL_VIEWS:
                if view in views:
                    self._advance(cursor, view, position)

    @contextlib.contextmanager
    def rebuild_transactions(self) -> Iterator[Transaction]:
        """A maker of write transactions for a rebuild, all on one connection on SQLite."""
        if self.dialect.name != "sqlite":
            yield self._derived_write
            return
        with (
            self.datastore.get_connection(commit=True) as connection,
            self._relaxed(connection, cache_kib=REBUILD_CACHE_KIB),
        ):
            yield lambda: connection.transaction(commit=True)

    @contextlib.contextmanager
    def _derived_write(self) -> Iterator[Any]:
        """A write transaction whose commit need not reach the disk before it returns.

        The views are derived: the log they are folded from was committed durably
        first, and their tracking positions commit with their rows. A power cut that
        loses the views' last commits loses those positions with them, and the follower
        folds the same events again on restart. So the views skip the flush the log
        must pay (it was half of a post's time on SQLite): synchronous=NORMAL on a WAL
        database (safe from corruption there), synchronous_commit=off on PostgreSQL.
        """
        if self.dialect.name == "postgresql":
            with self._transaction(commit=True) as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
                yield cursor
            return
        with (
            self.datastore.get_connection(commit=True) as connection,
            self._relaxed(connection),
            connection.transaction(commit=True) as cursor,
        ):
            yield cursor

    @contextlib.contextmanager
    def _relaxed(self, connection: Any, *, cache_kib: int | None = None) -> Iterator[None]:
        """synchronous=NORMAL (in WAL mode only) on a pooled SQLite connection, for a while.

        The connection goes back to the pool, where the log's writes use it too: its
        settings are put back before it does. The journal mode and the pool's own
        synchronous level are read once; the follower comes here for every batch.
        """
        settings = connection.cursor()
        if self._sqlite_settings is None:
            settings.execute("PRAGMA journal_mode")
            wal = str(settings.fetchone()[0]).lower() == "wal"
            settings.execute("PRAGMA synchronous")
            self._sqlite_settings = (wal, int(settings.fetchone()[0]))
        wal, synchronous = self._sqlite_settings
        cache_size = None
        if cache_kib is not None:
            settings.execute("PRAGMA cache_size")
            cache_size = int(settings.fetchone()[0])
        try:
            if wal:
                settings.execute("PRAGMA synchronous = NORMAL")
            if cache_size is not None and cache_kib is not None:
                settings.execute(f"PRAGMA cache_size = {min(cache_size, -cache_kib)}")
            yield
        finally:
            if wal:
                settings.execute(f"PRAGMA synchronous = {synchronous}")
            if cache_size is not None:
                settings.execute(f"PRAGMA cache_size = {cache_size}")

    def _advance(self, cursor: Any, view: str, notification_id: int) -> bool:
        """Move the view's position to ``notification_id``; False if it is there already."""
        cursor.execute(
            self.dialect.sql(
                "INSERT INTO {t}liveblog_tracking (view, notification_id) VALUES (?, ?)"
                " ON CONFLICT (view) DO UPDATE SET notification_id = excluded.notification_id"
                " WHERE {t}liveblog_tracking.notification_id < excluded.notification_id"
                " RETURNING notification_id"
            ),
            (view, notification_id),
        )
        return cursor.fetchone() is not None

    def _write_stories(self, cursor: Any, rows: list[tuple[Any, ...]]) -> None:
        cursor.executemany(self.dialect.sql(_STORY_ROWS.sql(1)), rows)

    def _write_timeline(self, cursor: Any, rows: list[tuple[Any, ...]]) -> None:
        cursor.executemany(self.dialect.sql(_TIMELINE_ROWS.sql(1)), rows)

    def _write_revisions(self, cursor: Any, rows: list[tuple[Any, ...]]) -> None:
        cursor.executemany(self.dialect.sql(_REVISION_ROWS.sql(1)), rows)

    def _write_in_bulk(self, cursor: Any, insert: _Insert, rows: Sequence[Sequence[Any]]) -> None:
        """``rows`` in statements of up to ``BULK_PARAMETERS`` parameters each.

        The rows must not repeat a key: PostgreSQL refuses to upsert a row twice in one
        statement.
        """
        size = max(1, BULK_PARAMETERS // insert.width)
        for start in range(0, len(rows), size):
            part = rows[start : start + size]
            cursor.execute(
                self.dialect.sql(insert.sql(len(part))), [v for row in part for v in row]
            )

    # -- reading ---------------------------------------------------------------------

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
            flagged = _rows_of(cursor)
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
            for row in _rows_of(cursor)
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
        """Every revision of an update, oldest first: those the revisions view stores and,
        if the update is published, the one it shows, read from its timeline doc.

        Views written before the view stopped storing the shown revision hold it too;
        the one from the doc replaces it (they are equal).
        """
        key = (str(story_id), str(update_id))
        with self._transaction(commit=False, snapshot=True) as cursor:
            cursor.execute(
                self.dialect.sql(
                    "SELECT revision, at, title, body, note, by_id, by_name"
                    " FROM {t}liveblog_revisions WHERE story_id = ? AND update_id = ?"
                ),
                key,
            )
            found = {
                int(row["revision"]): RevisionRow(
                    int(row["revision"]), row["at"], row["title"], row["body"], row["note"],
                    row["by_id"], row["by_name"],
                )
                for row in _rows_of(cursor)
            }  # fmt: skip
            cursor.execute(
                self.dialect.sql(
                    "SELECT doc FROM {t}liveblog_timeline WHERE story_id = ? AND update_id = ?"
                ),
                key,
            )
            timeline = cursor.fetchone()
        shown = None if timeline is None else shown_revision(orjson.loads(timeline["doc"]))
        if shown is not None:
            found[shown.revision] = shown
        return [found[number] for number in sorted(found)]

    def story_list(self, status: str | None) -> list[str]:
        """List documents of the stories, oldest first, optionally of one status."""
        statement = "SELECT list_doc FROM {t}liveblog_story_list"
        params: tuple[Any, ...] = ()
        if status is not None:
            statement += " WHERE status = ?"
            params = (status,)
        with self._transaction(commit=False) as cursor:
            cursor.execute(self.dialect.sql(statement + " ORDER BY created_at, story_id"), params)
            return [row["list_doc"] for row in _rows_of(cursor)]

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
                dumped[view] = [tuple(dict(row).values()) for row in _rows_of(cursor)]
        return dumped

    # -- plumbing --------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self, *, commit: bool, snapshot: bool = False) -> Iterator[Any]:
        with self.datastore.transaction(commit=commit) as cursor:
            if snapshot and self.dialect.name == "postgresql":
                # One snapshot for several statements (SQLite's transactions already are).
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield cursor
