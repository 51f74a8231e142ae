"""Loading an export into an empty store: all of it, or nothing.

Nothing is written until the whole file has been read and every record checked
(``liveblog.sections``), so a malformed file changes nothing. Then every section's
stored events (people, the stories' events, the snapshots the Newsroom would have
taken) are inserted in one transaction, which first sees every table empty: a store
that is not empty, or any failure while writing, leaves the store as it was. The
events are inserted as they were stored: no command runs again, so no time is stamped
anew and no body is sanitized again. The read views are folded from them by the feed
when a server starts (or by ``liveblog rebuild``).

Memory: the checked events are held until the transaction, a few hundred bytes each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

from liveblog.eventsourcing_adapter import TablesNotEmpty, insert_into_empty
from liveblog.export_format import Malformed, read_records
from liveblog.sections import SECTIONS, Loader, Section, Stores


class TargetNotEmpty(Exception):
    """The store to import into holds something already: nothing was written."""


class CannotImport(Exception):
    """The store is of a kind an import cannot fill (the in-memory one)."""


def import_export(
    stores: Stores, stream: IO[bytes], sections: Sequence[Section] = SECTIONS
) -> list[str]:
    """Load the export ``stream`` into the empty ``stores``; a summary per section.

    ``Malformed`` (the file), ``TargetNotEmpty`` or a store error: nothing written.
    """
    datastore = getattr(stores.newsroom.factory, "datastore", None)
    if not isinstance(datastore, (SQLiteDatastore, PostgresDatastore)):
        msg = "import fills a SQLite or PostgreSQL store (the in-memory one keeps nothing)"
        raise CannotImport(msg)
    # Said before a long file is read; checked again in the transaction that writes.
    check_empty(stores, sections)
    loaders: dict[str, Loader] = {section.kind: section.loader(stores) for section in sections}
    for number, record in read_records(stream):
        loader = loaders.get(record["kind"])
        if loader is None:
            known = ", ".join([*loaders, "end"])
            raise Malformed(number, f"unknown kind {record['kind']!r} (known: {known})")
        loader.add(number, record)
    loaded = [loader.finish() for loader in loaders.values()]
    try:
        insert_into_empty(datastore, [write for done in loaded for write in done.writes])
    except TablesNotEmpty as error:
        raise TargetNotEmpty(
            f"the target store is not empty (something was written to {', '.join(error.tables)}"
            " meanwhile); nothing was imported"
        ) from None
    return [done.summary for done in loaded]


def check_empty(stores: Stores, sections: Sequence[Section] = SECTIONS) -> None:
    """``TargetNotEmpty`` naming what the store holds, if it holds anything."""
    held = [
        section.holds
        for section in sections
        if section.application(stores).recorder.max_notification_id()
    ]
    if held:
        raise TargetNotEmpty(
            f"the target store is not empty: it holds {' and '.join(held)};"
            " import only into a new, empty store"
        )
