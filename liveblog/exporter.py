"""Writing an export: the header, each section's records, the end line (see
``liveblog.export_format`` for the file, ``liveblog.sections`` for what it holds)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO
from uuid import UUID

from liveblog.export_format import encode_line, end_line, header_line
from liveblog.newsroom import Newsroom
from liveblog.sections import PAGE_SIZE, SECTIONS, STORIES, Section, Stores


def write_export(
    stores: Stores,
    out: IO[bytes],
    story_ids: Sequence[UUID] | None = None,
    sections: Sequence[Section] = SECTIONS,
) -> dict[str, int]:
    """Write the whole store (or the stories ``story_ids``) to ``out``; how many records
    of each kind were written."""
    out.write(header_line())
    counts = {section.kind: 0 for section in sections}
    for section in sections:
        for record in section.records(stores, story_ids):
            out.write(encode_line(record))
            counts[section.kind] += 1
    out.write(end_line(sum(counts.values())))
    return counts


def story_lines(
    newsroom: Newsroom, story_id: UUID, *, after: int, limit: int = PAGE_SIZE
) -> tuple[bytes, int]:
    """One page of a story's events after version ``after``, as export lines, and how
    many (fewer than ``limit``: the story's last page): a stream of one story
    (``GET /api/stories/{story}/export``) reads a page per worker-thread call."""
    lines = STORIES.lines_for(newsroom)
    page = newsroom.recorder.select_events(story_id, gt=after, limit=limit)
    return b"".join(encode_line(lines.record(stored)) for stored in page), len(page)
