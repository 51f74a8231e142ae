"""The Drafts application: drafts' commands, in a log of their own.

A draft is never in a story's stream (everything there is public); its events go to the
``drafts_events`` table, which the read side of stories never reads. Each command loads
the draft, decides and saves; a command that loses a race with another process on the
same draft is decided again on the fresh state, unless it named the revision it edited
(``If-Match``), which is then a conflict. Synchronous: the web layer calls it from
worker threads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, Transcoder
from eventsourcing.utils import Environment, EnvType

from liveblog.domain import Actor, DomainError, RevisionConflict
from liveblog.draft import Draft
from liveblog.side_apps import own_sqlite_table, uncached_environment
from liveblog.transcoder import OrjsonTranscoder

# How often a command that lost a race (no If-Match) is decided again before giving up.
RACE_RETRIES = 5


class DraftNotFound(DomainError):
    code = "not_found"


class Drafts(Application[UUID]):
    """Contributors', reporters' and editors' commands on drafts."""

    name = "Drafts"

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        # No aggregate cache: a draft is loaded whole from its few events each time, so a
        # command never decides on a state another process has moved on from.
        return uncached_environment(name, env)

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    def construct_recorder(self) -> ApplicationRecorder:
        return own_sqlite_table(self.factory, "drafts_events") or super().construct_recorder()

    # -- reads ----------------------------------------------------------------------

    def get_draft(self, draft_id: UUID) -> Draft:
        try:
            draft: object = self.repository.get(draft_id)
        except AggregateNotFoundError:
            raise DraftNotFound(f"no draft {draft_id}") from None
        if not isinstance(draft, Draft):
            raise DraftNotFound(f"no draft {draft_id}")
        return draft

    def find_draft(self, draft_id: UUID) -> Draft | None:
        try:
            return self.get_draft(draft_id)
        except DraftNotFound:
            return None

    # -- commands -------------------------------------------------------------------

    def create_draft(
        self,
        *,
        story_id: UUID,
        title: str,
        body: str,
        key_event: bool,
        pinned: bool,
        actor: Actor,
        draft_id: UUID | None = None,
        publish_at: datetime | None = None,
        media: Sequence[Mapping[str, Any]] = (),
    ) -> tuple[Draft, bool]:
        """A new draft (scheduled at once when ``publish_at`` is given); with the id a
        retried request names (``draft_id_for_key``), the draft it made before.
        Returns the draft and whether this call created it."""
        draft_id = draft_id or uuid4()
        existing = self.find_draft(draft_id)
        if existing is not None:
            return existing, False
        draft = Draft.create(
            draft_id=draft_id, story_id=story_id, title=title, body=body,
            key_event=key_event, pinned=pinned, actor=actor, media=media,
        )  # fmt: skip
        if publish_at is not None:
            draft.schedule(publish_at=publish_at, actor=actor)
        try:
            self.save(draft)
        except IntegrityError:
            # The same retried request, a moment earlier in another process.
            return self.get_draft(draft_id), False
        return draft, True

    def change_draft(
        self,
        draft_id: UUID,
        decide: Callable[[Draft], object],
        *,
        expected_revision: int | None = None,
    ) -> Draft:
        """Load the draft, let ``decide`` trigger its events, save; again on a lost race
        unless the caller named the revision it decided on."""
        for _ in range(RACE_RETRIES):
            draft = self.get_draft(draft_id)
            decide(draft)
            try:
                self.save(draft)
            except IntegrityError:
                if expected_revision is not None:
                    raise RevisionConflict(
                        f"the draft changed after revision {expected_revision}"
                    ) from None
                continue
            return draft
        raise RevisionConflict("the draft is being changed by others; try again")

    def draft_ids(self, *, after: int = 0, limit: int = 500) -> tuple[list[UUID], int]:
        """The drafts changed in the log after position ``after`` (each once), and the
        position of the last change read (``after`` when there was none)."""
        notifications = self.recorder.select_notifications(start=after + 1, limit=limit)
        seen: dict[UUID, None] = {}
        for notification in notifications:
            originator = notification.originator_id
            seen[originator if isinstance(originator, UUID) else UUID(str(originator))] = None
        position = notifications[-1].id if notifications else after
        return list(seen), position
