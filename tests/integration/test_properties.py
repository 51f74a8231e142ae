"""Random command sequences keep the domain's invariants, and the views equal the fold.

Hypothesis draws sequences of valid and invalid commands — open, post (with and without
an Idempotency-Key, sometimes reused), correct (with a changed or an unchanged body, a
changed title or none, as the author, another reporter or an editor, with a current or a
stale revision), retract, reinstate, flag, close, reopen, edit — on a few stories, some
of them never opened, with update references that are sometimes unknown. A small model
predicts each command's outcome (the error it must raise, or how many events it
records); the Newsroom must agree.
Afterwards the feed's views must equal the fold of each story's stored events, and
the stored events must keep the domain's invariants.

Each example builds its own process (``bootstrap.build``) on a fresh store: a real
SQLite file, or memory, where more examples fit in the time.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import hypothesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liveblog.domain import (
    Actor,
    DomainError,
    InvalidField,
    NotAuthor,
    NothingChanged,
    NotRetracted,
    RevisionConflict,
    Story,
    StoryClosed,
    UpdateNotFound,
    UpdateRetracted,
    story_id_for_slug,
    update_id_for_key,
)
from liveblog.newsroom import Newsroom, Outcome, SlugTaken, StoryNotFound
from projections.story import fold
from tests.helpers import EDITOR, OTHER_REPORTER, REPORTER
from tests.integration.processes import TIMEOUT, Processes
from tests.integration.views_oracle import fold_rows, views_rows

STORIES = 3  # story 2 is never opened by the preamble: commands on it find no story
ACTORS = (REPORTER, OTHER_REPORTER, EDITOR)
TITLES = (None, "Protests in Bishkek", "Results annulled")
SUMMARIES = (None, "", "Live coverage.")


def slug(story: int) -> str:
    return f"story-{story}"


# -- commands ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenStory:
    story: int


@dataclass(frozen=True)
class Post:
    story: int
    actor: Actor
    key: int | None  # Idempotency-Key number; None: no key
    content: int  # title and body are made from it, so a reused key may repeat them
    key_event: bool
    pinned: bool


@dataclass(frozen=True)
class Correct:
    story: int
    actor: Actor
    update: int | None  # index into the story's posted updates; None: an unknown id
    same_body: bool
    revision: str  # "none" | "current" | "stale"
    retitle: bool  # give a new title too (with the same body: a correction of the title)


@dataclass(frozen=True)
class Retract:
    story: int
    actor: Actor
    update: int | None


@dataclass(frozen=True)
class Reinstate:
    story: int
    actor: Actor
    update: int | None


@dataclass(frozen=True)
class Flag:
    story: int
    actor: Actor
    update: int | None
    pinned: bool | None
    key_event: bool | None


@dataclass(frozen=True)
class Close:
    story: int
    actor: Actor


@dataclass(frozen=True)
class Reopen:
    story: int
    actor: Actor


@dataclass(frozen=True)
class Edit:
    story: int
    actor: Actor
    title: str | None
    summary: str | None
    version: str  # "none" | "current" | "stale"


Command = OpenStory | Post | Correct | Retract | Reinstate | Flag | Close | Reopen | Edit

# Mostly the two stories the preamble opens; sometimes the one nobody opened.
stories = st.sampled_from([0, 0, 0, 1, 1, 2])
actors = st.sampled_from(ACTORS)
# Mostly an update the story has; sometimes (None) an id it never had.
references = st.sampled_from([None, 0, 1, 2, 3, 4, 5, 6, 7])
expectations = st.sampled_from(["none", "none", "current", "stale"])
optional_flags = st.sampled_from([None, True, False])
keys = st.sampled_from([None, None, 0, 1])  # an Idempotency-Key, sometimes reused
contents = st.integers(1, 2)

posts = st.builds(Post, stories, actors, keys, contents, st.booleans(), st.booleans())
# One reporter's retries with one key: the same post again, or the key reused for another.
retries = st.builds(Post, stories, st.just(REPORTER), st.just(0), contents, st.booleans(),
                    st.booleans())  # fmt: skip
corrections = st.builds(
    Correct, stories, actors, references, st.booleans(), expectations, st.booleans()
)
commands: st.SearchStrategy[Command] = st.one_of(
    posts,
    retries,
    corrections,
    corrections,
    st.builds(Retract, stories, actors, references),
    st.builds(Reinstate, stories, actors, references),
    st.builds(Flag, stories, actors, references, optional_flags, optional_flags),
    st.builds(Close, stories, actors),
    st.builds(Reopen, stories, actors),
    st.builds(Edit, stories, actors, st.sampled_from(TITLES), st.sampled_from(SUMMARIES),
              expectations),
    st.builds(OpenStory, stories),
)  # fmt: skip
sequences = st.lists(commands, min_size=5, max_size=40)


# -- the model --------------------------------------------------------------------------


@dataclass
class ModelUpdate:
    author: str
    first_title: str
    first_body: str
    body: str
    title: str
    pinned: bool
    key_event: bool
    revision: int = 1
    retracted: bool = False


@dataclass
class ModelStory:
    title: str
    summary: str
    version: int = 1
    closed: bool = False
    updates: dict[UUID, ModelUpdate] = field(default_factory=dict)


def _nothing(outcome: Outcome) -> None:
    pass


@dataclass(frozen=True)
class Call:
    """A command made concrete on the model's state: the newsroom call and its verdict.

    ``expected`` is the error the call must raise, or how many events it must record;
    ``commit`` brings the model up to date once the call has succeeded.
    """

    run: Callable[[Newsroom], Outcome]
    expected: type[DomainError] | int
    commit: Callable[[Outcome], None] = _nothing


def revision_for(current: int, wanted: str) -> int | None:
    """The revision (or version) a caller names: none, the current one, or a stale one."""
    return {"none": None, "current": current, "stale": current - 1}[wanted]


@dataclass
class Model:
    """What the newsroom must do with each command, from what it has done so far."""

    stories: dict[int, ModelStory] = field(default_factory=dict)

    def prepare(self, command: Command) -> Call:
        story_id = story_id_for_slug(slug(command.story))
        story = self.stories.get(command.story)
        if isinstance(command, OpenStory):
            return self._open(command)
        if story is None:
            # The call, made on a blank story, must be refused before it gets that far.
            call = self._call(command, story_id, ModelStory("", ""), uuid4(), None)
            return Call(call.run, StoryNotFound)
        update_id = self._pick(story, getattr(command, "update", None))
        return self._call(command, story_id, story, update_id, story.updates.get(update_id))

    def _open(self, command: OpenStory) -> Call:
        title = f"Story {command.story}"

        def commit(outcome: Outcome) -> None:
            self.stories[command.story] = ModelStory(title=title, summary="")

        return Call(
            lambda newsroom: newsroom.open_story(
                slug=slug(command.story), title=title, summary="", actor=EDITOR
            ),
            SlugTaken if command.story in self.stories else 1,
            commit,
        )

    @staticmethod
    def _pick(story: ModelStory, reference: int | None) -> UUID:
        """The update a command names: one the story has, or (None, or none yet) unknown."""
        posted = list(story.updates)
        if reference is None or not posted:
            return uuid4()
        return posted[reference % len(posted)]

    def _call(
        self,
        command: Command,
        story_id: UUID,
        story: ModelStory,
        update_id: UUID,
        update: ModelUpdate | None,
    ) -> Call:
        def refusal() -> type[DomainError] | None:
            """The error every command on one existing update checks first."""
            if update is None:
                return UpdateNotFound
            if update.retracted:
                return UpdateRetracted
            return None

        if isinstance(command, Post):
            return self._post(command, story_id, story)

        if isinstance(command, Correct):
            current = update.revision if update is not None else 1
            expected_revision = revision_for(current, command.revision)
            body = "Corrected body"
            title = "Corrected title" if command.retitle else None
            if update is not None:
                body = update.body if command.same_body else f"{update.body} (corrected)"
                title = f"{update.title} (retitled)" if command.retitle else None
            as_editor = command.actor == EDITOR
            error = refusal()
            if error is None and update is not None:
                if expected_revision is not None and expected_revision != update.revision:
                    error = RevisionConflict
                elif not as_editor and update.author != command.actor.id:
                    error = NotAuthor
                elif body == update.body and title is None:
                    error = InvalidField

            def corrected(outcome: Outcome) -> None:
                assert update is not None
                update.body = body
                update.title = update.title if title is None else title
                update.revision += 1
                story.version += 1

            return Call(
                lambda newsroom: newsroom.correct_update(
                    story_id,
                    update_id,
                    title=title,
                    body=body,
                    note="Fixed",
                    actor=command.actor,
                    as_editor=as_editor,
                    expected_revision=expected_revision,
                ),
                error or 1,
                corrected,
            )

        if isinstance(command, Retract):

            def retracted(outcome: Outcome) -> None:
                assert update is not None
                update.retracted = True
                update.pinned = update.key_event = False
                update.revision += 1
                story.version += 1

            return Call(
                lambda newsroom: newsroom.retract_update(
                    story_id, update_id, reason="Unconfirmed", actor=command.actor
                ),
                refusal() or 1,
                retracted,
            )

        if isinstance(command, Reinstate):
            reinstate_error: type[DomainError] | None = None
            if update is None:
                reinstate_error = UpdateNotFound
            elif not update.retracted:
                reinstate_error = NotRetracted

            def reinstated(outcome: Outcome) -> None:
                assert update is not None
                update.retracted = False
                update.revision += 1
                story.version += 1

            return Call(
                lambda newsroom: newsroom.reinstate_update(
                    story_id, update_id, reason="Confirmed", actor=command.actor
                ),
                reinstate_error or 1,
                reinstated,
            )

        if isinstance(command, Flag):
            changes = 0
            if update is not None:
                changes += command.pinned is not None and command.pinned != update.pinned
                changes += command.key_event is not None and command.key_event != update.key_event

            def flagged(outcome: Outcome) -> None:
                assert update is not None
                if command.pinned is not None:
                    update.pinned = command.pinned
                if command.key_event is not None:
                    update.key_event = command.key_event
                story.version += changes

            return Call(
                lambda newsroom: newsroom.flag_update(
                    story_id,
                    update_id,
                    pinned=command.pinned,
                    key_event=command.key_event,
                    actor=command.actor,
                ),
                refusal() or changes,
                flagged,
            )

        if isinstance(command, Close | Reopen):
            closing = isinstance(command, Close)

            def toggled(outcome: Outcome) -> None:
                story.closed = closing
                story.version += 1

            if closing:
                return Call(
                    lambda newsroom: newsroom.close_story(story_id, actor=command.actor),
                    NothingChanged if story.closed else 1,
                    toggled,
                )
            return Call(
                lambda newsroom: newsroom.reopen_story(story_id, actor=command.actor),
                1 if story.closed else NothingChanged,
                toggled,
            )

        assert isinstance(command, Edit)
        expected_version = revision_for(story.version, command.version)
        title = story.title if command.title is None else command.title
        summary = story.summary if command.summary is None else command.summary
        edit_error: type[DomainError] | None = None
        if expected_version is not None and expected_version != story.version:
            edit_error = RevisionConflict
        elif (title, summary) == (story.title, story.summary):
            edit_error = NothingChanged

        def edited(outcome: Outcome) -> None:
            story.title, story.summary = title, summary
            story.version += 1

        return Call(
            lambda newsroom: newsroom.edit_story(
                story_id,
                title=command.title,
                summary=command.summary,
                actor=command.actor,
                expected_version=expected_version,
            ),
            edit_error or 1,
            edited,
        )

    @staticmethod
    def _post(command: Post, story_id: UUID, story: ModelStory) -> Call:
        title = f"Title {command.content}" if command.content else ""
        body = f"Body {command.content}"
        key = None if command.key is None else f"key-{command.key}"
        known = None if key is None else update_id_for_key(story_id, command.actor.id, key)
        existing = story.updates.get(known) if known is not None else None
        expected: type[DomainError] | int = 1
        if existing is not None:
            # A retry records nothing; the same key with other content is a conflict.
            same = (existing.first_title, existing.first_body) == (title, body)
            expected = 0 if same else RevisionConflict
        elif story.closed:
            expected = StoryClosed

        def posted(outcome: Outcome) -> None:
            assert outcome.update_id is not None
            if known is not None:
                assert outcome.update_id == known
            if expected == 0:
                return
            story.updates[outcome.update_id] = ModelUpdate(
                author=command.actor.id,
                first_title=title,
                first_body=body,
                body=body,
                title=title,
                pinned=command.pinned,
                key_event=command.key_event,
            )
            story.version += 1

        return Call(
            lambda newsroom: newsroom.post_update(
                story_id,
                body=body,
                title=title,
                key_event=command.key_event,
                pinned=command.pinned,
                actor=command.actor,
                idempotency_key=key,
            ),
            expected,
            posted,
        )


def run(newsroom: Newsroom, model: Model, command: Command) -> None:
    """Run ``command`` on the newsroom; it must do what the model says, then the model follows."""
    call = model.prepare(command)
    verdict = call.expected if isinstance(call.expected, int) else call.expected.__name__
    hypothesis.event(f"{type(command).__name__} → {verdict}")
    raised: DomainError | None = None
    try:
        outcome = call.run(newsroom)
    except DomainError as error:
        raised = error
    if raised is not None:
        assert type(raised) is call.expected, f"{command}: {raised!r}, expected {call.expected}"
        return
    expected = call.expected
    assert isinstance(expected, int), f"{command}: succeeded, expected {expected.__name__}"
    assert outcome.story_id == story_id_for_slug(slug(command.story))
    assert outcome.recorded == (expected > 0), command
    before = model.stories[command.story].version if command.story in model.stories else 0
    call.commit(outcome)
    after = model.stories[command.story].version
    assert outcome.version == after == before + expected, command


# -- the invariants ----------------------------------------------------------------------


def check_invariants(newsroom: Newsroom, model: Model) -> None:
    """The stored events keep the domain's rules, and fold to what the model holds."""
    opened = {story_id_for_slug(slug(number)) for number in model.stories}
    assert set(newsroom.story_ids()) == opened
    for number, expected in model.stories.items():
        events = newsroom.story_events(story_id_for_slug(slug(number)))
        assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
        assert len(events) == expected.version
        check_story_events(events)

        story = fold(events)
        assert story is not None
        assert story.status == ("closed" if expected.closed else "live")
        assert (story.title, story.summary) == (expected.title, expected.summary)
        assert list(story.updates) == list(expected.updates)
        for update_id, update in story.updates.items():
            wanted = expected.updates[update_id]
            numbers = [r.revision for r in update.revisions]
            assert numbers == list(range(1, len(numbers) + 1))
            retracted = update.status == "retracted"
            assert retracted == wanted.retracted
            assert update.revision == len(numbers) == wanted.revision
            assert update.body == ("" if retracted else wanted.body)
            assert update.title == ("" if retracted else wanted.title)
            assert (update.pinned, update.key_event) == (wanted.pinned, wanted.key_event)
            # Each correction changed what the revision before it showed.
            for before, after in itertools.pairwise(update.revisions):
                if after.kind == "corrected":
                    assert (before.title, before.body) != (after.title, after.body)


def check_story_events(events: list[Any]) -> None:
    """Rules that hold event by event, whatever commands were tried."""
    closed = False
    bodies: dict[UUID, str] = {}
    titles: dict[UUID, str] = {}
    flags: dict[UUID, list[bool]] = {}
    retracted: set[UUID] = set()
    for event in events[1:]:
        update_id: UUID | None = getattr(event, "update_id", None)
        if isinstance(event, Story.UpdateReinstated):
            assert update_id in retracted, f"reinstated, not retracted: {event}"
            retracted.discard(update_id)
            continue
        assert update_id not in retracted, f"a retracted update changed: {event}"
        if isinstance(event, Story.UpdatePosted):
            assert not closed, "posted to a closed story"
            assert event.update_id not in bodies, "an update posted twice"
            bodies[event.update_id] = event.body
            titles[event.update_id] = event.title
            flags[event.update_id] = [event.pinned, event.key_event]
            continue
        if isinstance(event, Story.Closed | Story.Reopened):
            assert closed is isinstance(event, Story.Reopened), "closed or reopened twice"
            closed = isinstance(event, Story.Closed)
            continue
        if update_id is None:
            assert isinstance(event, Story.Edited)
            continue
        assert update_id in bodies, f"{event} for an update never posted"
        if isinstance(event, Story.UpdateCorrected):
            changed = (event.body, event.title, event.media)
            assert changed != (None, None, None), "a correction of nothing"
            assert event.body != bodies[update_id], "a body given that did not change"
            assert event.title != titles[update_id], "a title given that did not change"
            bodies[update_id] = bodies[update_id] if event.body is None else event.body
            titles[update_id] = titles[update_id] if event.title is None else event.title
        elif isinstance(event, Story.UpdateRetracted):
            retracted.add(update_id)
            flags[update_id] = [False, False]  # a retraction unpins and unmarks, unrecorded
        else:
            index = 0 if isinstance(event, Story.UpdatePinned | Story.UpdateUnpinned) else 1
            setting = isinstance(event, Story.UpdatePinned | Story.KeyEventSet)
            assert flags[update_id][index] is not setting, f"{event} changed nothing"
            flags[update_id][index] = setting


# -- the properties ----------------------------------------------------------------------

# Two stories with an update each, so that most commands have something to act on.
PREAMBLE: list[Command] = [
    OpenStory(0),
    OpenStory(1),
    Post(0, REPORTER, key=None, content=1, key_event=False, pinned=False),
    Post(1, OTHER_REPORTER, key=None, content=2, key_event=True, pinned=True),
]


def check_sequence(database_url: str, sequence: list[Command]) -> None:
    processes = Processes(database_url)
    try:
        parts, _ = processes.build()
        model = Model()
        for command in [*PREAMBLE, *sequence]:
            run(parts.newsroom, model, command)
        assert parts.feed.catch_up(TIMEOUT)
        assert views_rows(parts.views) == fold_rows(parts.newsroom)
        check_invariants(parts.newsroom, model)
    finally:
        processes.close_all()


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=sequences)
def test_random_commands_on_sqlite_keep_the_invariants_and_views_equal_the_fold(
    sequence: list[Command],
) -> None:
    with tempfile.TemporaryDirectory(prefix="liveblog-properties-") as directory:
        check_sequence(f"sqlite:///{Path(directory) / 'liveblog.sqlite3'}", sequence)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=sequences)
def test_random_commands_in_memory_keep_the_invariants_and_views_equal_the_fold(
    sequence: list[Command],
) -> None:
    check_sequence("memory://", sequence)
