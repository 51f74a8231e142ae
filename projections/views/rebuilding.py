"""The rebuild's writes: the views written again from a fold of the whole log.

``Rebuilding`` makes the rows of each chunk of notifications and sends them, packed as
one JSON document, to a ``ChunkWriter``, which writes each chunk with the views'
positions in one transaction (``ViewRebuild.write_chunk``) while the caller decodes and
folds the next chunks: on a thread of this process (``ThreadChunkWriter``) or in a second
process (``liveblog.rebuild_writer``).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple, Protocol

import orjson

from projections.story import StoryView, UpdateView
from projections.views.rows import (
    REVISION_ROWS,
    STORY_ROWS,
    TIMELINE_ROWS,
    IdTexts,
    revision_row,
    stored_revisions,
    story_row,
    timeline_row,
)
from projections.views.schema import ALL_VIEWS, REVISIONS, STORY_LIST, TIMELINE, empty_views
from projections.views.store import Transaction, ViewStore
from projections.views.writes import advance
from projections.wire import UpdateText, id_for_orjson, time_for_orjson, update_doc_of_text

# A rebuild commits every this many notifications, and in halving chunks near the end.
# Each commit records the views' positions with their rows, so a rebuild that stops
# half-way leaves consistent views a feed can continue. Large, so that commits (and
# their WAL checkpoints) are few; the halving keeps the last chunk's write, which
# nothing overlaps, short.
REBUILD_CHUNK = 20_000
# The first chunk is this many notifications, and each next one twice the last, up to
# REBUILD_CHUNK: the writer starts early, instead of waiting for a whole chunk's fold.
REBUILD_FIRST_CHUNK = 2_000

# How many chunks a rebuild lets its writer hold, sent and not yet waited for: the one
# being written and the next, so that the writer never waits for the fold between two.
CHUNKS_IN_FLIGHT = 2


class ChunkWriter(Protocol):
    """Where a rebuild's chunks go: each is written with ``ViewRebuild.write_chunk`` in a
    transaction of its own, in the order sent. Up to ``CHUNKS_IN_FLIGHT`` are outstanding."""

    def send(self, packed: bytes) -> None:
        """Queue one chunk to be written (a packed chunk made by ``Rebuilding``)."""

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
    in place, so the objects held here hold the newest values), and sent, as one packed chunk,
    to the writer, which writes them with the views' positions in one transaction while
    this thread decodes and folds the next chunks.

    A packed chunk (``pack_chunk``) is JSON made by orjson, which writes UUIDs and UTC times
    itself, as ``str`` and ``rfc3339`` would (formatting them in Python was a third of the
    rows' cost). It holds the story list's and the revisions' rows, and each changed
    update's fields (``packed_update``): the writer makes the timeline's rows and docs
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
        packed = pack_chunk(self._drop, self._position, self._rows())
        self._stories, self._updates = {}, {}
        if self._in_flight >= CHUNKS_IN_FLIGHT:
            self._wait_for_one()
        self._writer.send(packed)
        self._in_flight += 1
        self._drop = False
        self._committed = self._position
        self._chunk = min(self._chunk * 2, REBUILD_CHUNK)

    def _rows(self) -> ChunkRows:
        """The story list's and the revisions' rows of this chunk, and its updates."""
        names = self._names
        texts = IdTexts()
        story_rows = (
            [story_row(s, texts) for s in self._stories.values()] if STORY_LIST in names else []
        )
        updates = [packed_update(u) for u in self._updates.values()] if TIMELINE in names else []
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
                        revision_rows.append(revision_row(story_id, update_id, r, at))
                    written[id(u)] = stored
        return ChunkRows(story_rows, updates, revision_rows)

    def _wait_for_one(self) -> None:
        self._in_flight -= 1
        self._writer.wait()


class ChunkRows(NamedTuple):
    """A chunk's story-list and revisions rows, and its updates for the timeline."""

    story_rows: list[tuple[Any, ...]]
    updates: list[tuple[Any, ...]]  # each made by ``packed_update``
    revision_rows: list[tuple[Any, ...]]


def pack_chunk(drop: bool, position: int, chunk: ChunkRows) -> bytes:
    """One chunk for a ``ChunkWriter`` (read back by ``unpack_chunk``)."""
    return orjson.dumps(
        [drop, position, chunk.story_rows, chunk.updates, chunk.revision_rows],
        option=orjson.OPT_UTC_Z,
    )


def unpack_chunk(packed: bytes) -> tuple[bool, int, list[Any], list[UpdateText], list[Any]]:
    """A packed chunk's drop flag, position, story-list rows, updates and revisions rows."""
    drop, position, story_rows, updates, revision_rows = orjson.loads(packed)
    return drop, position, story_rows, [UpdateText._make(u) for u in updates], revision_rows


def packed_update(u: UpdateView) -> tuple[Any, ...]:
    """An update as a packed chunk carries it, to be read back as a ``wire.UpdateText``: its ids
    and times as orjson writes them (see ``wire.id_for_orjson`` and
    ``wire.time_for_orjson``), people as ``(id, name)``."""
    r = u.retraction
    return (
        id_for_orjson(u.id), id_for_orjson(u.story_id), u.sequence, u.title, u.body,
        (u.author.id, u.author.name), u.key_event, u.pinned, u.status,
        time_for_orjson(u.published_at), time_for_orjson(u.updated_at), u.revision,
        [(time_for_orjson(c.at), c.note, (c.by.id, c.by.name)) for c in u.corrections],
        None if r is None else (time_for_orjson(r.at), r.reason, (r.by.id, r.by.name)),
        None if u.approved_by is None else (u.approved_by.id, u.approved_by.name),
        u.media,
    )  # fmt: skip


class ViewRebuild(ViewStore):
    """``ReadViews``' rebuild: empty the views, then write them chunk by chunk."""

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

    def write_chunk(self, cursor: Any, views: Sequence[str], packed: bytes) -> None:
        """Write one chunk of a rebuild (a packed chunk made by ``Rebuilding``) with ``cursor``.

        The rows need no further formatting: the packed chunk's JSON holds ids and times as the
        text the views store. The timeline's docs are made here, from the packed chunk's updates.
        """
        drop, position, story_rows, updates, revision_rows = unpack_chunk(packed)
        timeline_rows = [
            timeline_row(u, u.story_id, u.id, u.published_at, update_doc_of_text(u))
            for u in updates
        ]
        if drop:
            empty_views(cursor, self.dialect, sorted(views))
        STORY_ROWS.write_in_bulk(cursor, self.dialect, story_rows)
        TIMELINE_ROWS.write_in_bulk(cursor, self.dialect, timeline_rows)
        REVISION_ROWS.write_in_bulk(cursor, self.dialect, revision_rows)
        if position:  # an empty log leaves no positions, as the feed would
            for view in ALL_VIEWS:
                if view in views:
                    advance(cursor, self.dialect, view, position)


class ThreadChunkWriter:
    """Writes chunks on a second thread of this process.

    The database does most of the work without the GIL, so it overlaps the fold; but the
    timeline's docs are made and the rows' parameters bound with the GIL held, which
    slows the fold. A large rebuild on a SQLite file uses a second process instead
    (``liveblog.rebuild_writer``).
    """

    def __init__(self, views: ViewRebuild, transaction: Transaction, names: Sequence[str]) -> None:
        self._views = views
        self._transaction = transaction
        self._names = list(names)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="liveblog-rebuild")
        self._writing: deque[Future[None]] = deque()
        self._failed = False

    def send(self, packed: bytes) -> None:
        self._writing.append(self._executor.submit(self._write, packed))

    def wait(self) -> None:
        if self._writing:
            self._writing.popleft().result()  # raises what the writer raised

    def _write(self, packed: bytes) -> None:
        if self._failed:  # chunks commit in order: none after one that failed
            msg = "an earlier chunk of this rebuild failed"
            raise RuntimeError(msg)
        try:
            with self._transaction() as cursor:
                self._views.write_chunk(cursor, self._names, packed)
        except BaseException:
            self._failed = True
            raise

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
