"""Export and import: a store written through the Newsroom, exported, imported into an
empty store of each backend, holds the very same stored events, bytes for bytes; and
an import that is refused (a store not empty, a malformed file, a failed write) leaves
the target empty.

The source is always a real SQLite file; the target is a SQLite file or a fresh
PostgreSQL schema.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from liveblog.demo import seed_demo
from liveblog.domain import Actor, story_id_for_slug
from liveblog.export_format import MAX_LINE_BYTES, Malformed
from liveblog.exporter import write_export
from liveblog.importer import TargetNotEmpty, import_export
from liveblog.people import Role, person_id_for_name
from liveblog.sections import SECTIONS, Loaded, Section, Stores, open_stores
from liveblog.settings import Settings

EDITOR = Actor(str(person_id_for_name("Erin Editor")), "Erin Editor")
REPORTER = Actor(str(person_id_for_name("Rashid Reporter")), "Rashid Reporter")
LONG_STORY_EVENTS = 205  # snapshots every 100: the import takes the one at 200


def stores_on(url: str) -> Stores:
    return open_stores(Settings(database_url=url).eventsourcing_env())


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Stores]:
    """A SQLite store with people (one deactivated, all with tokens), the demo story, a
    story that went through every kind of event, and one long enough to be snapshotted."""
    stores = stores_on(f"sqlite:///{tmp_path / 'source.sqlite3'}")
    credentials, newsroom = stores.credentials, stores.newsroom
    credentials.issue(name=EDITOR.name, role=Role.EDITOR)
    credentials.issue(name=REPORTER.name, role=Role.REPORTER)
    credentials.register(name="Dana Departed", role=Role.REPORTER)
    credentials.update_person(person_id_for_name("Dana Departed"), active=False)
    seed_demo(newsroom)
    story = newsroom.open_story(
        slug="every-event", title="Every event", summary="", actor=EDITOR
    ).story_id
    first = newsroom.post_update(story, title="First", body="<p>One</p>", actor=REPORTER)
    second = newsroom.post_update(story, body="<p>Two</p>", key_event=True, actor=REPORTER)
    assert first.update_id is not None
    assert second.update_id is not None
    newsroom.correct_update(
        story, first.update_id, title="First, corrected", body="<p>One!</p>", note="typo",
        actor=EDITOR, as_editor=True,
    )  # fmt: skip
    newsroom.correct_update(
        story, first.update_id, title="First", body="<p>One</p>", reverted_to=1, note="back",
        actor=EDITOR, as_editor=True,
    )  # fmt: skip
    newsroom.retract_update(story, second.update_id, reason="wrong", actor=EDITOR)
    newsroom.reinstate_update(story, second.update_id, reason="right", actor=EDITOR)
    newsroom.flag_update(story, first.update_id, pinned=True, key_event=True, actor=EDITOR)
    newsroom.flag_update(story, first.update_id, pinned=False, key_event=False, actor=EDITOR)
    newsroom.edit_story(story, title="Every event, edited", summary="All of them", actor=EDITOR)
    newsroom.close_story(story, actor=EDITOR)
    newsroom.reopen_story(story, actor=EDITOR)
    long = newsroom.open_story(slug="long", title="Long", summary="", actor=EDITOR).story_id
    for n in range(LONG_STORY_EVENTS - 1):
        newsroom.post_update(long, body=f"<p>{n}</p>", actor=REPORTER)
    add_drafts(stores, story, long)
    yield stores
    stores.close()


def add_drafts(stores: Stores, story: UUID, long: UUID) -> None:
    """Drafts in every status but published, two of the first story and one of the long."""
    drafts = stores.drafts
    submitted, _ = drafts.create_draft(story_id=story, title="Draft", body="<p>d</p>",
                                       key_event=False, pinned=False, actor=REPORTER)  # fmt: skip
    drafts.change_draft(submitted.id, lambda d: d.edit(
        title="Draft, edited", body=None, key_event=None, pinned=None, actor=REPORTER,
        expected_revision=None,
    ))  # fmt: skip
    drafts.change_draft(submitted.id, lambda d: d.submit(actor=REPORTER))
    later = datetime(2030, 1, 1, tzinfo=UTC)
    drafts.create_draft(story_id=story, title="", body="<p>s</p>", key_event=False,
                        pinned=False, actor=REPORTER, publish_at=later)  # fmt: skip
    discarded, _ = drafts.create_draft(story_id=long, title="", body="<p>x</p>",
                                       key_event=False, pinned=False, actor=EDITOR)  # fmt: skip
    drafts.change_draft(discarded.id, lambda d: d.discard(actor=EDITOR))


def stored_drafts(stores: Stores) -> list[tuple[str, int, str, bytes]]:
    return sorted(
        (str(n.originator_id), n.originator_version, n.topic, bytes(n.state))
        for n in stores.drafts.recorder.select_notifications(start=1, limit=10_000)
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'target.sqlite3'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture
def target(target_url: str) -> Iterator[Stores]:
    stores = stores_on(target_url)
    yield stores
    stores.close()


def exported(stores: Stores, story_ids: Sequence[UUID] | None = None) -> bytes:
    out = io.BytesIO()
    write_export(stores, out, story_ids)
    return out.getvalue()


def stored_events(stores: Stores) -> list[tuple[str, int, str, bytes]]:
    """Every story event as stored, by story and version."""
    rows = [
        (str(n.originator_id), n.originator_version, n.topic, bytes(n.state))
        for n in stores.newsroom.recorder.select_notifications(start=1, limit=10_000)
    ]
    return sorted(rows)


def assert_empty(stores: Stores) -> None:
    """Nothing in any table an import writes: events, people and tokens, snapshots."""
    assert not stores.newsroom.recorder.max_notification_id()
    assert not stores.credentials.recorder.max_notification_id()
    assert not stores.drafts.recorder.max_notification_id()
    assert stores.newsroom.snapshots is not None
    assert not stores.newsroom.snapshots.recorder.select_events(story_id_for_slug("long"))


# -- the round trip -----------------------------------------------------------------------


def test_an_import_holds_every_stored_event_bytes_for_bytes(
    source: Stores, target: Stores
) -> None:
    summary = import_export(target, io.BytesIO(exported(source)))

    assert summary == [
        "3 people", f"3 stories ({len(stored_events(source))} events)", "3 drafts (7 events)",
    ]  # fmt: skip
    assert stored_events(target) == stored_events(source)
    assert stored_drafts(target) == stored_drafts(source)
    # The stories load (from the snapshot the import took, and the events after it) to
    # the same state as in the source.
    for story_id in source.newsroom.story_ids():
        assert vars(target.newsroom.get_story(story_id)) == vars(
            source.newsroom.get_story(story_id)
        )


def test_people_come_with_their_ids_roles_and_flags_and_no_token(
    source: Stores, target: Stores
) -> None:
    data = exported(source)
    import_export(target, io.BytesIO(data))

    assert target.credentials.people() == source.credentials.people()
    assert [p.active for p in target.credentials.people()] == [False, True, True]
    assert target.credentials.tokens() == []
    hashes = [
        event.token_hash
        for n in source.credentials.recorder.select_notifications(start=1, limit=100)
        if hasattr(event := source.credentials.mapper.to_domain_event(n), "token_hash")
    ]
    assert len(hashes) == 2
    assert not any(token_hash.encode() in data for token_hash in hashes)


def test_the_import_takes_the_snapshots_the_newsroom_would_have_taken(
    source: Stores, target: Stores
) -> None:
    import_export(target, io.BytesIO(exported(source)))

    long = target.newsroom.resolve_story_id("long")
    assert target.newsroom.snapshots is not None
    snapshots = target.newsroom.snapshots.recorder.select_events(long)
    assert [s.originator_version for s in snapshots] == [200]
    assert target.newsroom.story_version(long) == LONG_STORY_EVENTS


def test_an_export_of_chosen_stories_holds_them_and_every_person(
    source: Stores, target: Stores
) -> None:
    chosen = source.newsroom.resolve_story_id("every-event")
    import_export(target, io.BytesIO(exported(source, [chosen])))

    assert target.newsroom.story_ids() == [chosen]
    assert stored_events(target) == [e for e in stored_events(source) if e[0] == str(chosen)]
    kept = {str(d) for d in target.drafts.draft_ids()[0]}
    assert len(kept) == 2
    assert {target.drafts.get_draft(UUID(d)).story_id for d in kept} == {chosen}
    assert len(target.credentials.people()) == 3


def test_an_export_of_an_import_is_the_export_itself(source: Stores, target: Stores) -> None:
    first = exported(source)
    import_export(target, io.BytesIO(first))

    # All but the header (its time): the same lines, in the same order.
    assert exported(target).split(b"\n")[1:] == first.split(b"\n")[1:]


# -- refusals ------------------------------------------------------------------------------


def test_a_store_with_a_story_is_refused_and_keeps_only_what_it_had(
    source: Stores, target: Stores
) -> None:
    target.newsroom.open_story(slug="already", title="Here", summary="", actor=EDITOR)
    before = stored_events(target)

    with pytest.raises(TargetNotEmpty, match="it holds stories"):
        import_export(target, io.BytesIO(exported(source)))

    assert stored_events(target) == before
    assert target.credentials.people() == []


def test_a_store_with_a_token_is_refused(source: Stores, target: Stores) -> None:
    target.credentials.issue(name="Early Bird", role=Role.ADMIN)

    with pytest.raises(TargetNotEmpty, match="people or tokens"):
        import_export(target, io.BytesIO(exported(source)))

    assert stored_events(target) == []
    assert [p.name for p in target.credentials.people()] == ["Early Bird"]


Lines = list[dict[str, Any]]


def lines_of(data: bytes) -> Lines:
    return [orjson.loads(line) for line in data.splitlines()]


def file_of(lines: Lines) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def first_of(lines: Lines, topic: str) -> dict[str, Any]:
    return next(line for line in lines if line.get("topic", "").endswith(topic))


def recounted(lines: Lines) -> Lines:
    """The lines with the end line's count made right again (for a broken record)."""
    lines[-1] = {"kind": "end", "records": len(lines) - 2}
    return lines


def _gap(lines: Lines) -> Lines:
    lines.remove(next(line for line in lines if line.get("version") == 2))  # the demo's
    return recounted(lines)


def _state(field: str, value: object, topic: str = ".UpdatePosted") -> Callable[[Lines], Lines]:
    def change(lines: Lines) -> Lines:
        first_of(lines, topic)["state"][field] = value
        return lines

    return change


def _set(key: str, value: object, topic: str = ".UpdatePosted") -> Callable[[Lines], Lines]:
    def change(lines: Lines) -> Lines:
        first_of(lines, topic)[key] = value
        return lines

    return change


def _person(key: str, value: object) -> Callable[[Lines], Lines]:
    def change(lines: Lines) -> Lines:
        next(line for line in lines if line.get("kind") == "person")[key] = value
        return lines

    return change


def _unknown_update(lines: Lines) -> Lines:
    corrected = first_of(lines, ".UpdateCorrected")
    corrected["state"]["update_id"] = {"_type_": "uuid", "_data_": UUID(int=7).hex}
    return lines


# (what is wrong, how to break an export's lines, what the message says)
MALFORMED: list[tuple[str, Callable[[Lines], Lines], str]] = [
    ("wrong format", lambda ls: [{**ls[0], "format": "other"}, *ls[1:]], "not a liveblog export"),
    ("wrong version", lambda ls: [{**ls[0], "version": 2}, *ls[1:]], "export version 2"),
    ("version true", lambda ls: [{**ls[0], "version": True}, *ls[1:]], "export version True"),
    ("no header", lambda ls: ls[1:], "not a liveblog export"),
    (
        "unknown kind",
        lambda ls: recounted([*ls[:-1], {"kind": "comment"}, ls[-1]]),
        "unknown kind 'comment'",
    ),
    ("no end line", lambda ls: ls[:-1], "cut short"),
    ("wrong count", lambda ls: [*ls[:-1], {"kind": "end", "records": 3}], "records are"),
    ("after the end", lambda ls: [*ls, ls[1]], "after the end line"),
    ("a version gap", _gap, "version 3 where 2 was due"),
    ("unknown topic", _set("topic", "os:system"), "'os:system' is not the topic"),
    (
        "a topic of another kind",
        _set("topic", "liveblog.people:Person.Registered"),
        "not the topic of a story_event",
    ),
    ("U+0000", _state("body", "<p>a\x00b</p>"), "U+0000"),
    (
        "a body that is not sanitized HTML",
        _state("body", "<p>x</p><script>alert(1)</script><img src=x onerror=alert(1)>"),
        "not sanitized HTML",
    ),
    (
        "a correction's body that is not sanitized HTML",
        _state("body", '<p onclick="alert(1)">x</p>', ".UpdateCorrected"),
        "not sanitized HTML",
    ),
    ("a field of the wrong type", _state("key_event", "yes"), "state.key_event: not a bool"),
    ("an unknown field", _state("colour", "red"), "unknown ['colour']"),
    (
        "a missing field",
        lambda ls: (first_of(ls, ".UpdatePosted")["state"].pop("body"), ls)[1],
        "missing ['body']",
    ),
    ("a schema from the future", _state("class_version", 9, ".UpdateCorrected"), "class_version"),
    ("a correction of no update", _unknown_update, "does not apply"),
    ("at is not the timestamp", _set("at", "2001-01-01T00:00:00Z"), "at: must be"),
    ("a bad tag", _state("update_id", {"_type_": "uuid", "_data_": "nope"}), "does not load"),
    ("a story id not from its slug", _state("slug", "elsewhere", ".Opened"), "derived from"),
    (
        "another aggregate's topic",
        _state("originator_topic", "os:System", ".Opened"),
        "originator_topic",
    ),
    ("a person id not from the name", _person("id", str(UUID(int=1))), "derived from the name"),
    ("a person of no role", _person("role", "owner"), "role: must be one of"),
    ("a person half active", _person("active", "yes"), "active: must be true or false"),
]


@pytest.mark.parametrize(
    ("break_it", "message"),
    [pytest.param(change, message, id=name) for name, change, message in MALFORMED],
)
def test_a_malformed_file_is_refused_by_line_and_nothing_is_written(
    source: Stores, target: Stores, break_it: Callable[[Lines], Lines], message: str
) -> None:
    broken = file_of(break_it(lines_of(exported(source))))

    with pytest.raises(Malformed, match=r"^line \d+: ") as refused:
        import_export(target, io.BytesIO(broken))

    assert message in str(refused.value)
    assert_empty(target)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(b"", "line 1: the file is empty", id="empty"),
        pytest.param(b"{not json\n", "line 1: not valid JSON", id="not JSON"),
        pytest.param(b"[1, 2]\n", "line 1: a line must hold a JSON object", id="not an object"),
        pytest.param(
            b'{"a": 1}' + b" " * MAX_LINE_BYTES + b"\n",
            "line 1: the line is longer",
            id="oversize",
        ),
        pytest.param(b"\xff\xfe\n", "line 1: not valid JSON", id="not UTF-8"),
        pytest.param(b'"\\ud800"\n', "line 1: not valid JSON", id="a lone surrogate"),
    ],
)
def test_a_file_that_is_not_an_export_is_refused(target: Stores, raw: bytes, message: str) -> None:
    with pytest.raises(Malformed) as refused:
        import_export(target, io.BytesIO(raw))

    assert str(refused.value).startswith(message)
    assert_empty(target)


# -- all or nothing when the write itself fails -------------------------------------------


class _Failing:
    """A last section whose stored events break a rule of the database (the same
    story version twice): the transaction fails after people and stories were written
    in it."""

    kind = "failing"
    holds = "nothing"

    def __init__(self, duplicate: StoredEvent) -> None:
        self.duplicate = duplicate

    def application(self, stores: Stores) -> Any:
        return stores.newsroom

    def records(self, stores: Stores, story_ids: Sequence[UUID] | None) -> Iterator[Any]:
        return iter(())

    def loader(self, stores: Stores) -> Any:
        duplicate = self.duplicate

        class Loader:
            def add(self, number: int, record: Any) -> None:
                raise AssertionError("no record of this kind is in the file")

            def finish(self) -> Loaded:
                return Loaded([(stores.newsroom.recorder, [duplicate])], "broken")

        return Loader()


def test_a_write_that_fails_half_way_leaves_the_target_empty(
    source: Stores, target: Stores
) -> None:
    story_id = source.newsroom.story_ids()[0]
    duplicate = source.newsroom.recorder.select_events(story_id, limit=1)[0]
    sections: list[Section] = [*SECTIONS, _Failing(duplicate)]

    with pytest.raises(IntegrityError):
        import_export(target, io.BytesIO(exported(source)), sections)

    assert_empty(target)
