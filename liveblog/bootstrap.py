"""The one place that builds the parts and wires them: applications, views, the feed."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import uuid4

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

from liveblog.draft_index import DraftIndex
from liveblog.drafts import Drafts
from liveblog.feed import Feed
from liveblog.live.hub import Hub
from liveblog.newsroom import Newsroom
from liveblog.publishing import Scheduler
from liveblog.settings import Settings
from liveblog.tokens import Credentials
from projections.views import Dialect, ReadViews


@dataclass
class Parts:
    newsroom: Newsroom
    credentials: Credentials
    views: ReadViews
    feed: Feed
    hub: Hub
    drafts: Drafts
    draft_index: DraftIndex
    scheduler: Scheduler

    def close(self) -> None:
        self.scheduler.stop()
        self.feed.stop()
        if self.views.datastore is not getattr(self.newsroom.factory, "datastore", None):
            self.views.datastore.close()  # the in-memory store's private views database
        self.newsroom.close()
        self.credentials.close()
        self.drafts.close()


def build_views(newsroom: Newsroom) -> ReadViews:
    """The read views, in the same database (and connection pool) as the events."""
    datastore = getattr(newsroom.factory, "datastore", None)
    if isinstance(datastore, PostgresDatastore):
        views = ReadViews(datastore, Dialect("postgresql", schema=datastore.schema))
    elif isinstance(datastore, SQLiteDatastore):
        views = ReadViews(datastore, Dialect("sqlite"))
    else:
        # The in-memory store keeps views in a private in-memory SQLite database.
        memory = SQLiteDatastore(f"file:liveblog-views-{uuid4().hex}?mode=memory&cache=shared")
        views = ReadViews(memory, Dialect("sqlite"))
    views.create_tables()
    return views


def build(settings: Settings, *, start_feed: bool = True, poll_seconds: float = 1.0) -> Parts:
    """Everything a server process runs (blocking: it may create tables).

    A server binds the hub to its event loop before it starts the feed, so the hub's
    rings never miss a frame; tools without a loop start the feed at once. The scheduler
    of drafts is started by the server (``start_scheduler``), never by tools.
    """
    env = settings.eventsourcing_env()
    newsroom = Newsroom(env=env)
    credentials = Credentials(env=env)
    views = build_views(newsroom)
    hub = Hub(slow_reader_bytes=settings.slow_reader_bytes)
    feed = Feed(newsroom, views, poll_seconds=poll_seconds, listeners=[hub])
    # The feed looks at the log as soon as this process saves, not at its next poll.
    newsroom.after_save.append(feed.wake)
    drafts = Drafts(env=env)
    draft_index = DraftIndex(views.datastore, views.dialect, drafts)
    draft_index.create_tables()
    scheduler = Scheduler(
        newsroom, drafts, draft_index, turn_seconds=settings.scheduler_turn_seconds
    )
    if start_feed:
        feed.start()
    return Parts(newsroom, credentials, views, feed, hub, drafts, draft_index, scheduler)
