"""Every Story event type, written to each backend and read back by a new Newsroom.

What comes back must be what went in, with its types: UUIDs as ``uuid.UUID``, the
timestamp as a timezone-aware ``datetime``, strings and booleans as given. (A plain JSON
transcoder would hand back strings for the first two.)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

from liveblog.domain import PUBLIC_EVENT_NAMES, Actor, Story, UpdateRecords, update_id_for_key
from liveblog.newsroom import Newsroom
from liveblog.settings import Settings
from projections.story import fold

REPORTER = Actor(id="reporter-aida", name="Айда Репортёр")
EDITOR = Actor(id="editor-cholpon", name="Cholpon Editor ✎")
SLUG = "bishkek-2020-10-06"
OPENED_AT = datetime(2020, 10, 5, 14, 0, 0, 123456, tzinfo=UTC)
IMAGE = {
    "type": "image",
    "url": "https://images.example/square.jpg",
    "alt": "Ala-Too Square",
    "caption": None,
    "credit": "Айда Репортёр",
}
EMBED = {
    "type": "embed",
    "url": "https://bsky.app/profile/a.example/post/3k",
    "provider": "bluesky",
}

BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("fresh_postgres_url"))


@pytest.fixture
def newsrooms(database_url: str) -> Iterator[list[Newsroom]]:
    """Instances opened by a test, closed after it (before its schema is dropped)."""
    opened: list[Newsroom] = []
    yield opened
    for room in opened:
        room.close()


def open_newsroom(database_url: str, opened: list[Newsroom]) -> Newsroom:
    room = Newsroom(env=Settings(database_url=database_url).eventsourcing_env())
    opened.append(room)
    return room


def record_every_event_type(app: Newsroom) -> tuple[UUID, UUID, UUID]:
    """Versions 1..13 of one story, covering all 12 event types."""
    story_id = app.open_story(
        slug=SLUG, title="Протесты в Бишкеке", summary="Live: day 1", actor=EDITOR, at=OPENED_AT
    ).story_id  # 1 Opened
    app.edit_story(story_id, title=None, summary="Live: day 2 🇰🇬", actor=EDITOR)  # 2 Edited
    first = app.post_update(
        story_id,
        title="Square occupied",
        body="<p>Crowds on Ala-Too Square.</p>",
        key_event=True,
        pinned=True,
        actor=REPORTER,
        idempotency_key="first",
        media=[IMAGE],
    ).update_id  # 3 UpdatePosted
    assert first is not None
    app.correct_update(
        story_id,
        first,
        title="Square occupied in Bishkek",
        body="<p>Crowds on Ala-Too Square, Bishkek.</p>",
        note="Named the city.",
        actor=REPORTER,
        as_editor=False,
        expected_revision=1,
        media=[IMAGE, EMBED],
    )  # 4 UpdateCorrected
    app.flag_update(story_id, first, pinned=False, key_event=False, actor=EDITOR)  # 5, 6
    app.flag_update(story_id, first, pinned=True, key_event=True, actor=EDITOR)  # 7, 8
    second = app.post_update(
        story_id, body="<p>Unconfirmed report.</p>", actor=REPORTER
    ).update_id  # 9 UpdatePosted
    assert second is not None
    app.retract_update(story_id, second, reason="Could not confirm.", actor=EDITOR)  # 10
    app.reinstate_update(story_id, second, reason="Confirmed after all.", actor=EDITOR)  # 11
    app.close_story(story_id, actor=EDITOR)  # 12 Closed
    app.reopen_story(story_id, actor=EDITOR)  # 13 Reopened
    return story_id, first, second


def expected_events(
    story_id: UUID, first: UUID, second: UUID
) -> list[tuple[type[Aggregate.Event], dict[str, Any]]]:
    by_editor = {"actor_id": EDITOR.id, "actor_name": EDITOR.name}
    by_reporter = {"actor_id": REPORTER.id, "actor_name": REPORTER.name}
    return [
        (
            Story.Opened,
            {
                "slug": SLUG,
                "title": "Протесты в Бишкеке",
                "summary": "Live: day 1",
                "timestamp": OPENED_AT,
                "originator_topic": "liveblog.domain:Story",
                **by_editor,
            },
        ),
        (Story.Edited, {"title": "Протесты в Бишкеке", "summary": "Live: day 2 🇰🇬", **by_editor}),
        (
            Story.UpdatePosted,
            {
                "update_id": first,
                "title": "Square occupied",
                "body": "<p>Crowds on Ala-Too Square.</p>",
                "key_event": True,
                "pinned": True,
                "media": [IMAGE],
                **by_reporter,
            },
        ),
        (
            Story.UpdateCorrected,
            {
                "update_id": first,
                "title": "Square occupied in Bishkek",
                "body": "<p>Crowds on Ala-Too Square, Bishkek.</p>",
                "note": "Named the city.",
                "reverted_to": None,
                "media": [IMAGE, EMBED],
                **by_reporter,
            },
        ),
        (Story.UpdateUnpinned, {"update_id": first, **by_editor}),
        (Story.KeyEventUnset, {"update_id": first, **by_editor}),
        (Story.UpdatePinned, {"update_id": first, **by_editor}),
        (Story.KeyEventSet, {"update_id": first, **by_editor}),
        (
            Story.UpdatePosted,
            {
                "update_id": second,
                "title": "",
                "body": "<p>Unconfirmed report.</p>",
                "key_event": False,
                "pinned": False,
                "media": [],
                **by_reporter,
            },
        ),
        (
            Story.UpdateRetracted,
            {"update_id": second, "reason": "Could not confirm.", **by_editor},
        ),
        (
            Story.UpdateReinstated,
            {"update_id": second, "reason": "Confirmed after all.", **by_editor},
        ),
        (Story.Closed, by_editor),
        (Story.Reopened, by_editor),
    ]


def read_back(
    database_url: str, writer: Newsroom, story_id: UUID, opened: list[Newsroom]
) -> list[Aggregate.Event]:
    """The story's events as a new Newsroom instance reads them.

    In memory the store lives in the writer alone, so the new instance decodes what the
    writer's recorder holds (the same bytes a real store would have given it).
    """
    reader = open_newsroom(database_url, opened)
    assert reader is not writer
    if database_url != "memory://":
        return reader.story_events(story_id)
    decoded = [reader.mapper.to_domain_event(s) for s in writer.recorder.select_events(story_id)]
    return [e for e in decoded if isinstance(e, Aggregate.Event)]


def declared_types(event_class: type[Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(event_class)
    types = {f.name: hints[f.name] for f in dataclasses.fields(event_class)}
    # The library declares the id as its aggregate id type variable; a Newsroom's is UUID.
    return {name: UUID if isinstance(t, TypeVar) else t for name, t in types.items()}


def test_every_event_type_reads_back_with_its_types(
    database_url: str, newsrooms: list[Newsroom]
) -> None:
    writer = open_newsroom(database_url, newsrooms)
    before = datetime.now(UTC)
    story_id, first, second = record_every_event_type(writer)
    after = datetime.now(UTC)

    events = read_back(database_url, writer, story_id, newsrooms)

    assert {type(e) for e in events} == set(PUBLIC_EVENT_NAMES)
    assert [e.originator_version for e in events] == list(range(1, 14))
    expected = expected_events(story_id, first, second)
    assert [type(e) for e in events] == [cls for cls, _ in expected]
    for event, (_, fields) in zip(events, expected, strict=True):
        where = f"{type(event).__name__} v{event.originator_version}"
        # Every field has the type its event class declares...
        for name, declared in declared_types(type(event)).items():
            value = getattr(event, name)
            origin = typing.get_origin(declared)
            if origin in (typing.Union, types.UnionType):
                allowed = tuple(typing.get_origin(a) or a for a in typing.get_args(declared))
            else:
                allowed = (origin or declared,)
            assert type(value) in allowed, f"{where}.{name}: {value!r} is not {declared}"
        assert event.originator_id == story_id
        assert event.timestamp.tzinfo is not None, where
        assert event.timestamp.utcoffset() == timedelta(0), where
        # ...and the value it was given.
        for name, value in fields.items():
            assert getattr(event, name) == value, f"{where}.{name}"
    assert first == update_id_for_key(story_id, REPORTER.id, "first")
    # Events stamped "now" keep their microseconds and their order.
    stamped_now = [e.timestamp for e in events[1:]]
    assert stamped_now == sorted(stamped_now)
    assert before <= stamped_now[0]
    assert stamped_now[-1] <= after
    assert any(t.microsecond for t in stamped_now)


def test_a_new_instance_rebuilds_the_story_from_the_read_back_events(
    database_url: str, newsrooms: list[Newsroom]
) -> None:
    writer = open_newsroom(database_url, newsrooms)
    story_id, first, second = record_every_event_type(writer)

    folded: Any = None
    for event in read_back(database_url, writer, story_id, newsrooms):
        folded = event.mutate(folded)

    assert isinstance(folded, Story)
    live = writer.get_story(story_id)
    assert folded.version == live.version == 13
    assert (folded.title, folded.summary, folded.closed) == (live.title, live.summary, False)
    assert folded.updates == live.updates
    assert type(folded.updates) is UpdateRecords
    assert list(folded.updates) == [str(first), str(second)]
    assert folded.updates[str(first)].revision == 2
    assert folded.updates[str(second)].retracted is False
    assert folded.updates[str(second)].revision == 3
    assert folded.created_on == OPENED_AT


def test_a_correction_stored_before_titles_could_be_corrected_loads_and_folds(
    database_url: str, newsrooms: list[Newsroom]
) -> None:
    """A version 1 ``UpdateCorrected`` (a body and a note, no title, no class version)
    is upcast on load: the title is left as it was, and the fold shows the new body."""
    app = open_newsroom(database_url, newsrooms)
    story_id = app.open_story(slug=SLUG, title="Story", summary="", actor=EDITOR).story_id
    update_id = app.post_update(
        story_id, title="Kept", body="<p>Old.</p>", actor=REPORTER
    ).update_id
    assert update_id is not None
    app.correct_update(
        story_id, update_id, body="<p>New.</p>", note="Fixed.", actor=REPORTER, as_editor=False
    )
    stored = app.recorder.select_events(story_id)[-1]
    state = app.mapper.transcoder.decode(stored.state)
    assert state.pop("class_version") == 3
    del state["title"], state["reverted_to"], state["media"]
    old = dataclasses.replace(stored, state=app.mapper.transcoder.encode(state))

    event = app.mapper.to_domain_event(old)

    assert isinstance(event, Story.UpdateCorrected)
    assert (event.title, event.body, event.reverted_to) == (None, "<p>New.</p>", None)
    folded = fold([*app.story_events(story_id)[:-1], event])
    assert folded is not None
    update = folded.updates[update_id]
    assert (update.title, update.body, update.revision) == ("Kept", "<p>New.</p>", 2)


def store_as_version_2(app: Newsroom, stored: StoredEvent) -> StoredEvent:
    """``stored`` as code before media wrote it: class version 2, no ``media``."""
    state = app.mapper.transcoder.decode(stored.state)
    assert state.pop("class_version") == 3
    del state["media"]
    state["class_version"] = 2
    return dataclasses.replace(stored, state=app.mapper.transcoder.encode(state))


def test_a_post_and_a_correction_stored_before_media_load_with_none(
    database_url: str, newsrooms: list[Newsroom]
) -> None:
    """Version 2 ``UpdatePosted`` and ``UpdateCorrected`` events, in the store, are upcast
    on load: the post has no media and the correction left them as they were; the story
    goes on, and its updates take media from then on."""
    writer = open_newsroom(database_url, newsrooms)
    story_id = writer.open_story(slug=SLUG, title="Story", summary="", actor=EDITOR).story_id
    # The events as a version 2 writer made them, stored after the story's opening.
    draft = Story.open(slug="scratch", title="Scratch", summary="", actor=EDITOR)
    update_id = uuid4()
    draft.post_update(update_id=update_id, title="T", body="<p>Old.</p>", key_event=False,
                      pinned=False, actor=REPORTER)  # fmt: skip
    draft.correct_update(update_id=update_id, body="<p>Older.</p>", note="n", actor=EDITOR,
                         as_editor=True)  # fmt: skip
    old = [
        store_as_version_2(writer, dataclasses.replace(
            writer.mapper.to_stored_event(event), originator_id=story_id,
            originator_version=version,
        ))
        for version, event in enumerate(draft.collect_events()[1:], start=2)
    ]  # fmt: skip
    writer.recorder.insert_events(old)

    reader = open_newsroom(database_url, newsrooms)
    events = read_back(database_url, writer, story_id, newsrooms)
    posted, corrected = events[1:]
    assert isinstance(posted, Story.UpdatePosted)
    assert isinstance(corrected, Story.UpdateCorrected)
    assert (posted.media, corrected.media) == ([], None)
    folded = fold(events)
    assert folded is not None
    update = folded.updates[update_id]
    assert (update.body, update.media) == ("<p>Older.</p>", [])
    assert [r.media for r in update.revisions] == [[], []]
    if database_url == "memory://":
        return  # the reader's store is its own: the commands below need the writer's
    reader.correct_update(story_id, update_id, media=[IMAGE], note="Photo", actor=EDITOR,
                          as_editor=True)  # fmt: skip
    again = fold(reader.story_events(story_id))
    assert again is not None
    assert again.updates[update_id].media == [IMAGE]
