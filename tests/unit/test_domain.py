"""The Story aggregate on its own: its events, its rules, and nothing else (no store)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate

from liveblog.domain import (
    MAX_SLUG,
    PUBLIC_EVENT_NAMES,
    InvalidField,
    NotAuthor,
    NothingChanged,
    RevisionConflict,
    Story,
    StoryClosed,
    UpdateNotFound,
    UpdateRecords,
    UpdateRetracted,
    digest,
    story_id_for_slug,
    update_id_for_key,
)
from tests.helpers import EDITOR, OTHER_REPORTER, REPORTER
from tests.unit.stories import BODY, LIMITS, SLUG, Command, correct, open_story, post


def assert_nothing_recorded(story: Story, version: int) -> None:
    assert story.pending_events == []
    assert story.version == version


# -- opening -------------------------------------------------------------------------


def test_opening_a_story_records_one_event_at_version_1_with_who_and_when() -> None:
    story = Story.open(slug=SLUG, title="Protests in Bishkek", summary="Live.", actor=EDITOR)

    (event,) = story.collect_events()
    assert isinstance(event, Story.Opened)
    assert event.originator_version == 1
    assert (event.slug, event.title, event.summary) == (SLUG, "Protests in Bishkek", "Live.")
    assert (event.actor_id, event.actor_name) == (EDITOR.id, EDITOR.name)
    assert isinstance(event.timestamp, datetime)
    assert event.timestamp.tzinfo is not None
    assert story.version == 1
    assert not story.closed
    assert story.updates == {}


def test_a_storys_id_is_derived_from_its_slug() -> None:
    story = open_story(SLUG)

    assert story.id == story_id_for_slug(SLUG)
    assert Story.create_id(SLUG) == story.id
    assert open_story(SLUG).id == story.id
    assert open_story("another-story").id != story.id


@pytest.mark.parametrize(
    "slug",
    ["a", "7", "bishkek-2020-10-06", "a--b", "x" * MAX_SLUG],
)
def test_valid_slugs_are_accepted(slug: str) -> None:
    assert open_story(slug=slug).slug == slug


@pytest.mark.parametrize(
    "slug",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("Bishkek", id="uppercase"),
        pytest.param("-bishkek", id="leading-hyphen"),
        pytest.param("bishkek-", id="trailing-hyphen"),
        pytest.param("bishkek protests", id="space"),
        pytest.param("bishkek_protests", id="underscore"),
        pytest.param("bishkek/protests", id="slash"),
        pytest.param("bişkek", id="non-ascii"),
        pytest.param("x" * (MAX_SLUG + 1), id="too-long"),
        pytest.param(str(uuid4()), id="looks-like-a-uuid"),
        pytest.param(uuid4().hex, id="looks-like-a-hex-uuid"),
    ],
)
def test_invalid_slugs_are_refused(slug: str) -> None:
    with pytest.raises(InvalidField) as caught:
        Story.open(slug=slug, title="Title", summary="", actor=EDITOR)
    assert caught.value.field == "slug"


def test_a_story_needs_a_title() -> None:
    with pytest.raises(InvalidField) as caught:
        Story.open(slug=SLUG, title="  ", summary="", actor=EDITOR)
    assert caught.value.field == "title"


def test_a_story_may_open_without_a_summary() -> None:
    assert open_story(summary="").summary == ""


def test_a_non_string_field_is_refused_not_stored() -> None:
    with pytest.raises(InvalidField, match="must be a string") as caught:
        Story.open(slug=SLUG, title=cast(Any, 42), summary="", actor=EDITOR)
    assert caught.value.field == "title"


# -- field limits ----------------------------------------------------------------------


@pytest.mark.parametrize(("command", "field", "limit"), LIMITS)
def test_a_field_at_its_limit_is_accepted(command: Command, field: str, limit: int) -> None:
    command(open_story(), "x" * limit)


@pytest.mark.parametrize(("command", "field", "limit"), LIMITS)
def test_a_field_over_its_limit_is_refused(command: Command, field: str, limit: int) -> None:
    story = open_story()
    with pytest.raises(InvalidField, match=f"at most {limit} characters") as caught:
        command(story, "x" * (limit + 1))
    assert caught.value.field == field
    assert story.pending_events == []


# -- editing ---------------------------------------------------------------------------


def test_editing_records_title_and_summary_as_they_now_stand() -> None:
    story = open_story(title="Old title", summary="Old summary")

    story.edit(title="New title", summary=None, actor=EDITOR)

    (event,) = story.collect_events()
    assert isinstance(event, Story.Edited)
    assert (event.title, event.summary) == ("New title", "Old summary")
    assert (story.title, story.summary) == ("New title", "Old summary")
    assert event.originator_version == 2


def test_an_edit_that_changes_nothing_is_refused_and_records_nothing() -> None:
    story = open_story(title="Title", summary="Summary")

    with pytest.raises(NothingChanged):
        story.edit(title="Title", summary="Summary", actor=EDITOR)
    with pytest.raises(NothingChanged):
        story.edit(title=None, summary=None, actor=EDITOR)

    assert_nothing_recorded(story, version=1)


def test_an_edit_may_not_empty_the_title() -> None:
    story = open_story()
    with pytest.raises(InvalidField) as caught:
        story.edit(title="", summary=None, actor=EDITOR)
    assert caught.value.field == "title"
    assert_nothing_recorded(story, version=1)


def test_the_expected_version_must_be_the_current_one() -> None:
    story = open_story()
    post(story)

    story.check_version(None)
    story.check_version(2)
    with pytest.raises(RevisionConflict, match="version 2, not 1"):
        story.check_version(1)
    with pytest.raises(RevisionConflict):
        story.check_version(3)


# -- closing and reopening -----------------------------------------------------------


def test_posting_to_a_closed_story_is_refused() -> None:
    story = open_story()
    story.close(actor=EDITOR)
    story.collect_events()

    with pytest.raises(StoryClosed):
        story.post_update(
            update_id=uuid4(), title="", body=BODY, key_event=False, pinned=False, actor=REPORTER
        )

    assert_nothing_recorded(story, version=2)
    assert story.updates == {}


def test_a_reopened_story_takes_posts_again() -> None:
    story = open_story()
    story.close(actor=EDITOR)
    story.reopen(actor=EDITOR)
    closed, reopened = story.collect_events()
    assert isinstance(closed, Story.Closed)
    assert isinstance(reopened, Story.Reopened)

    update_id = post(story)

    assert str(update_id) in story.updates
    assert not story.closed


def test_closing_a_closed_story_or_reopening_a_live_one_changes_nothing() -> None:
    story = open_story()
    with pytest.raises(NothingChanged):
        story.reopen(actor=EDITOR)
    story.close(actor=EDITOR)
    story.collect_events()
    with pytest.raises(NothingChanged):
        story.close(actor=EDITOR)
    assert_nothing_recorded(story, version=2)


# -- posting ---------------------------------------------------------------------------


def test_posting_records_the_update_with_its_author() -> None:
    story = open_story()
    update_id = uuid4()

    posted = story.post_update(
        update_id=update_id,
        title="Square occupied",
        body=BODY,
        key_event=True,
        pinned=True,
        actor=REPORTER,
    )

    assert posted is True
    (event,) = story.collect_events()
    assert isinstance(event, Story.UpdatePosted)
    assert event.update_id == update_id
    assert (event.title, event.body, event.key_event, event.pinned) == (
        "Square occupied",
        BODY,
        True,
        True,
    )
    assert (event.actor_id, event.actor_name) == (REPORTER.id, REPORTER.name)
    record = story.find_update(update_id)
    assert (record.author_id, record.body_digest, record.revision) == (
        REPORTER.id,
        digest(BODY),
        1,
    )
    assert (record.pinned, record.key_event, record.retracted) == (True, True, False)


def test_an_update_needs_a_body_but_not_a_title() -> None:
    story = open_story()
    with pytest.raises(InvalidField) as caught:
        story.post_update(
            update_id=uuid4(), title="T", body=" \n", key_event=False, pinned=False, actor=REPORTER
        )
    assert caught.value.field == "body"
    assert_nothing_recorded(story, version=1)

    post(story, title="")
    assert story.version == 2


def test_reposting_the_same_update_returns_false_and_records_nothing() -> None:
    story = open_story()
    update_id = post(story, title="Square occupied", body=BODY)

    again = story.post_update(
        update_id=update_id,
        title="Square occupied",
        body=BODY,
        key_event=False,
        pinned=False,
        actor=REPORTER,
    )

    assert again is False
    assert_nothing_recorded(story, version=2)
    assert len(story.updates) == 1


def test_reposting_after_a_correction_still_records_nothing() -> None:
    story = open_story()
    update_id = post(story, body=BODY)
    correct(story, update_id, body="<p>Corrected.</p>")
    story.collect_events()

    again = story.post_update(
        update_id=update_id, title="", body=BODY, key_event=False, pinned=False, actor=REPORTER
    )

    assert again is False
    assert_nothing_recorded(story, version=3)
    assert story.find_update(update_id).body_digest == digest("<p>Corrected.</p>")


def test_a_post_retried_after_the_story_closed_is_answered_as_already_posted() -> None:
    story = open_story()
    update_id = post(story)
    story.close(actor=EDITOR)
    story.collect_events()

    again = story.post_update(
        update_id=update_id, title="", body=BODY, key_event=False, pinned=False, actor=REPORTER
    )

    assert again is False
    assert_nothing_recorded(story, version=3)


@pytest.mark.parametrize(
    ("title", "body"),
    [
        pytest.param("", "<p>Something else.</p>", id="other-body"),
        pytest.param("Another title", BODY, id="other-title"),
    ],
)
def test_the_same_update_id_with_other_content_is_a_conflict(title: str, body: str) -> None:
    story = open_story()
    update_id = post(story, title="", body=BODY)

    with pytest.raises(RevisionConflict, match="Idempotency-Key"):
        story.post_update(
            update_id=update_id,
            title=title,
            body=body,
            key_event=False,
            pinned=False,
            actor=REPORTER,
        )

    assert_nothing_recorded(story, version=2)
    assert story.find_update(update_id).body_digest == digest(BODY)


def test_an_update_id_is_derived_from_story_actor_and_idempotency_key() -> None:
    story_id = story_id_for_slug(SLUG)
    key = "0b9f6e1c-retry"

    same = update_id_for_key(story_id, REPORTER.id, key)

    assert update_id_for_key(story_id, REPORTER.id, key) == same
    assert update_id_for_key(story_id, OTHER_REPORTER.id, key) != same
    assert update_id_for_key(story_id, REPORTER.id, key + "x") != same
    assert update_id_for_key(story_id_for_slug("other"), REPORTER.id, key) != same


# -- correcting ------------------------------------------------------------------------


def test_the_author_corrects_an_update_with_a_new_body_and_a_public_note() -> None:
    story = open_story()
    update_id = post(story)

    correct(story, update_id, body="<p>Ala-Too Square, not Victory Square.</p>", note="Place.")

    (event,) = story.collect_events()
    assert isinstance(event, Story.UpdateCorrected)
    assert event.update_id == update_id
    assert (event.body, event.note) == ("<p>Ala-Too Square, not Victory Square.</p>", "Place.")
    assert event.actor_id == REPORTER.id
    record = story.find_update(update_id)
    assert record.body_digest == digest("<p>Ala-Too Square, not Victory Square.</p>")
    assert record.first_digest != record.body_digest
    assert record.revision == 2


def test_a_correction_must_change_the_title_the_body_or_the_media() -> None:
    story = open_story()
    update_id = post(story, body=BODY)

    with pytest.raises(InvalidField, match="must change the title, the body or media") as caught:
        correct(story, update_id, body=BODY)

    assert caught.value.field == "body"
    assert_nothing_recorded(story, version=2)


@pytest.mark.parametrize("note", ["", "   "])
def test_a_correction_must_carry_a_note(note: str) -> None:
    story = open_story()
    update_id = post(story)

    with pytest.raises(InvalidField) as caught:
        correct(story, update_id, note=note)

    assert caught.value.field == "note"
    assert_nothing_recorded(story, version=2)


def test_a_reporter_may_not_correct_someone_elses_update() -> None:
    story = open_story()
    update_id = post(story, actor=REPORTER)

    with pytest.raises(NotAuthor):
        correct(story, update_id, actor=OTHER_REPORTER, as_editor=False)

    assert_nothing_recorded(story, version=2)
    assert story.find_update(update_id).revision == 1


def test_an_editor_may_correct_anyones_update() -> None:
    story = open_story()
    update_id = post(story, actor=REPORTER)

    correct(story, update_id, actor=EDITOR, as_editor=True)

    (event,) = story.collect_events()
    assert isinstance(event, Story.UpdateCorrected)
    assert (event.actor_id, event.actor_name) == (EDITOR.id, EDITOR.name)
    assert story.find_update(update_id).author_id == REPORTER.id


def test_a_correction_naming_a_stale_revision_is_a_conflict() -> None:
    story = open_story()
    update_id = post(story)
    correct(story, update_id, body="<p>Second.</p>", expected_revision=1)
    story.collect_events()

    with pytest.raises(RevisionConflict, match="revision 2, not 1"):
        correct(story, update_id, body="<p>Third.</p>", expected_revision=1)

    assert_nothing_recorded(story, version=3)
    correct(story, update_id, body="<p>Third.</p>", expected_revision=2)
    assert story.find_update(update_id).revision == 3


# -- retracting ----------------------------------------------------------------------


def test_retracting_keeps_the_update_but_unpins_it_and_clears_its_key_event() -> None:
    story = open_story()
    update_id = post(story, pinned=True, key_event=True)

    story.retract_update(update_id=update_id, reason="Unverified claim.", actor=EDITOR)

    (event,) = story.collect_events()
    assert isinstance(event, Story.UpdateRetracted)
    assert (event.update_id, event.reason) == (update_id, "Unverified claim.")
    record = story.find_update(update_id)
    assert record.retracted is True
    assert record.pinned is False
    assert record.key_event is False
    assert record.revision == 2
    assert record.body_digest == digest(BODY)


def test_a_retraction_must_give_a_reason() -> None:
    story = open_story()
    update_id = post(story)

    with pytest.raises(InvalidField) as caught:
        story.retract_update(update_id=update_id, reason=" ", actor=EDITOR)

    assert caught.value.field == "reason"
    assert_nothing_recorded(story, version=2)


def _correct_it(story: Story, update_id: UUID) -> None:
    correct(story, update_id, actor=EDITOR, as_editor=True)


def _retract_it(story: Story, update_id: UUID) -> None:
    story.retract_update(update_id=update_id, reason="Again.", actor=EDITOR)


def _pin_it(story: Story, update_id: UUID) -> None:
    story.flag_update(update_id=update_id, pinned=True, key_event=None, actor=EDITOR)


def _unflag_it(story: Story, update_id: UUID) -> None:
    story.flag_update(update_id=update_id, pinned=False, key_event=False, actor=EDITOR)


EDITS = [
    pytest.param(_correct_it, id="correct"),
    pytest.param(_retract_it, id="retract"),
    pytest.param(_pin_it, id="pin"),
    pytest.param(_unflag_it, id="unflag"),
]


@pytest.mark.parametrize("edit", EDITS)
def test_a_retracted_update_cannot_be_edited(edit: Callable[[Story, UUID], None]) -> None:
    story = open_story()
    update_id = post(story)
    story.retract_update(update_id=update_id, reason="Wrong.", actor=EDITOR)
    story.collect_events()

    with pytest.raises(UpdateRetracted):
        edit(story, update_id)

    assert_nothing_recorded(story, version=3)


@pytest.mark.parametrize("edit", EDITS)
def test_editing_an_unknown_update_is_an_error(edit: Callable[[Story, UUID], None]) -> None:
    story = open_story()
    post(story)
    unknown = uuid4()

    with pytest.raises(UpdateNotFound, match=str(unknown)):
        edit(story, unknown)

    assert_nothing_recorded(story, version=2)


def test_finding_an_unknown_update_is_an_error() -> None:
    with pytest.raises(UpdateNotFound):
        open_story().find_update(uuid4())


# -- flags -----------------------------------------------------------------------------


def test_flags_record_one_event_per_change() -> None:
    story = open_story()
    update_id = post(story)

    assert story.flag_update(update_id=update_id, pinned=True, key_event=True, actor=EDITOR) == 2
    pinned, key_set = story.collect_events()
    assert isinstance(pinned, Story.UpdatePinned)
    assert isinstance(key_set, Story.KeyEventSet)
    assert pinned.update_id == key_set.update_id == update_id
    record = story.find_update(update_id)
    assert (record.pinned, record.key_event) == (True, True)

    assert story.flag_update(update_id=update_id, pinned=False, key_event=False, actor=EDITOR) == 2
    unpinned, key_unset = story.collect_events()
    assert isinstance(unpinned, Story.UpdateUnpinned)
    assert isinstance(key_unset, Story.KeyEventUnset)
    assert (record.pinned, record.key_event) == (False, False)
    assert record.revision == 1  # flags are not revisions of the text


@pytest.mark.parametrize(
    ("pinned", "key_event"),
    [(None, None), (False, None), (None, False), (False, False)],
)
def test_flags_that_are_already_so_record_nothing(
    pinned: bool | None, key_event: bool | None
) -> None:
    story = open_story()
    update_id = post(story, pinned=False, key_event=False)

    recorded = story.flag_update(
        update_id=update_id, pinned=pinned, key_event=key_event, actor=EDITOR
    )

    assert recorded == 0
    assert_nothing_recorded(story, version=2)


def test_only_the_flag_that_changes_is_recorded() -> None:
    story = open_story()
    update_id = post(story, pinned=True, key_event=False)

    assert story.flag_update(update_id=update_id, pinned=True, key_event=True, actor=EDITOR) == 1

    (event,) = story.collect_events()
    assert isinstance(event, Story.KeyEventSet)


# -- the stream as a whole -----------------------------------------------------------


def test_versions_are_contiguous_from_1_and_refused_commands_take_none() -> None:
    story = Story.open(slug=SLUG, title="Protests", summary="", actor=EDITOR)
    first = uuid4()
    story.post_update(
        update_id=first, title="", body=BODY, key_event=False, pinned=False, actor=REPORTER
    )
    with pytest.raises(NotAuthor):
        correct(story, first, actor=OTHER_REPORTER)
    correct(story, first)
    story.flag_update(update_id=first, pinned=True, key_event=True, actor=EDITOR)
    with pytest.raises(NothingChanged):
        story.reopen(actor=EDITOR)
    story.edit(title="Protests in Bishkek", summary=None, actor=EDITOR)
    story.retract_update(update_id=first, reason="Wrong.", actor=EDITOR)
    story.close(actor=EDITOR)

    events = story.collect_events()

    assert [e.originator_version for e in events] == list(range(1, 9))
    assert story.version == 8
    assert {e.originator_id for e in events} == {story.id}
    timestamps = [e.timestamp for e in events]
    assert timestamps == sorted(timestamps)


def test_replaying_the_events_rebuilds_the_same_state() -> None:
    story = Story.open(slug=SLUG, title="Protests", summary="", actor=EDITOR)
    kept, retracted = uuid4(), uuid4()
    for update_id in (kept, retracted):
        story.post_update(
            update_id=update_id, title="", body=BODY, key_event=True, pinned=True, actor=REPORTER
        )
    correct(story, kept, body="<p>Kept, corrected.</p>")
    story.retract_update(update_id=retracted, reason="Wrong.", actor=EDITOR)
    story.flag_update(update_id=kept, pinned=False, key_event=None, actor=EDITOR)
    story.close(actor=EDITOR)
    events = story.collect_events()

    replayed: Any = None
    for event in events:
        replayed = event.mutate(replayed)

    assert isinstance(replayed, Story)
    assert replayed.version == story.version
    assert (replayed.slug, replayed.title, replayed.closed) == (SLUG, "Protests", True)
    assert replayed.updates == story.updates
    assert replayed.updates[str(kept)].pinned is False
    assert replayed.updates[str(kept)].key_event is True
    assert replayed.updates[str(retracted)].retracted is True


def test_a_snapshot_and_a_copy_keep_the_updates_table_and_its_order() -> None:
    story = open_story()
    update_ids = [post(story, body=f"<p>Post {n}.</p>") for n in range(3)]
    correct(story, update_ids[1], body="<p>Post 1, corrected.</p>")

    snapshot = Story.Snapshot.take(story)
    restored = snapshot.mutate(None)
    copied = copy.deepcopy(story)

    assert snapshot.state["class_version"] == 2
    for other in (restored, copied):
        assert isinstance(other, Story)
        assert type(other.updates) is UpdateRecords
        assert list(other.updates) == [str(u) for u in update_ids]
        assert other.updates == story.updates
        assert other.find_update(update_ids[1]).revision == 2
    assert copied.updates[str(update_ids[0])] is not story.updates[str(update_ids[0])]


def test_a_version_1_snapshot_state_is_upcast_to_an_updates_table() -> None:
    story = open_story()
    update_id = post(story)
    state = dict(Story.Snapshot.take(story).state)
    del state["class_version"]
    state["updates"] = dict(state["updates"])  # version 1 held a plain dict
    old = Story.Snapshot(
        originator_id=story.id,
        originator_version=story.version,
        timestamp=Story.Snapshot.create_timestamp(),
        topic=f"{Story.__module__}:{Story.__qualname__}",
        state=state,
    )

    restored = old.mutate(None)

    assert isinstance(restored, Story)
    assert type(restored.updates) is UpdateRecords
    assert restored.updates == story.updates
    # The restored story goes on enforcing its rules.
    assert (
        restored.post_update(
            update_id=update_id, title="", body=BODY, key_event=False, pinned=False, actor=REPORTER
        )
        is False
    )


# -- explicit event times (seeding history) ------------------------------------------

BISHKEK = timezone(timedelta(hours=6))


def test_an_explicit_time_stamps_the_event_in_utc() -> None:
    opened_at = datetime(2020, 10, 5, 20, 0, tzinfo=BISHKEK)
    story = Story.open(slug=SLUG, title="Protests", summary="", actor=EDITOR, at=opened_at)
    update_id = uuid4()
    story.post_update(
        update_id=update_id,
        title="",
        body=BODY,
        key_event=False,
        pinned=False,
        actor=REPORTER,
        at=opened_at + timedelta(hours=1),
    )

    opened, posted = story.collect_events()

    assert opened.timestamp == opened_at
    assert opened.timestamp.utcoffset() == timedelta(0)
    assert posted.timestamp == datetime(2020, 10, 5, 15, 0, tzinfo=UTC)
    assert story.modified_on == posted.timestamp


def test_an_explicit_time_must_be_timezone_aware() -> None:
    with pytest.raises(InvalidField, match="timezone-aware") as caught:
        Story.open(slug=SLUG, title="T", summary="", actor=EDITOR, at=datetime(2020, 10, 5))
    assert caught.value.field == "at"


def test_an_explicit_time_may_not_go_back_before_the_last_change() -> None:
    opened_at = datetime(2020, 10, 5, 14, 0, tzinfo=UTC)
    story = Story.open(slug=SLUG, title="T", summary="", actor=EDITOR, at=opened_at)
    story.collect_events()
    update_id = uuid4()

    with pytest.raises(InvalidField, match="must not be before") as caught:
        story.post_update(
            update_id=update_id,
            title="",
            body=BODY,
            key_event=False,
            pinned=False,
            actor=REPORTER,
            at=opened_at - timedelta(seconds=1),
        )
    assert caught.value.field == "at"
    assert_nothing_recorded(story, version=1)

    story.post_update(
        update_id=update_id,
        title="",
        body=BODY,
        key_event=False,
        pinned=False,
        actor=REPORTER,
        at=opened_at,  # the same moment is not going back
    )
    story.collect_events()
    correct(story, update_id, body="<p>Now.</p>")  # no time given: now, after the post
    story.collect_events()
    with pytest.raises(InvalidField, match="must not be before"):
        story.correct_update(
            update_id=update_id,
            body="<p>Back in time.</p>",
            note="Backdated.",
            actor=REPORTER,
            as_editor=False,
            at=opened_at,
        )
    assert_nothing_recorded(story, version=3)


def test_a_flag_already_so_records_nothing_whatever_its_time() -> None:
    story = open_story()
    update_id = post(story)

    recorded = story.flag_update(
        update_id=update_id,
        pinned=False,
        key_event=None,
        actor=EDITOR,
        at=datetime(1990, 1, 1, tzinfo=UTC),
    )

    assert recorded == 0
    assert_nothing_recorded(story, version=2)
    with pytest.raises(InvalidField, match="must not be before"):
        story.flag_update(
            update_id=update_id,
            pinned=True,
            key_event=None,
            actor=EDITOR,
            at=datetime(1990, 1, 1, tzinfo=UTC),
        )
    assert_nothing_recorded(story, version=2)


# -- the public stream -----------------------------------------------------------------


def test_every_story_event_type_has_its_public_name() -> None:
    declared = {
        value
        for value in vars(Story).values()
        if isinstance(value, type) and issubclass(value, Aggregate.Event)
    } - {Story.Event, Story.Created}  # the bases the library defines on every aggregate

    assert set(PUBLIC_EVENT_NAMES) == declared
    assert sorted(PUBLIC_EVENT_NAMES.values()) == sorted(
        [
            "story.opened",
            "story.updated",
            "story.closed",
            "story.reopened",
            "update.posted",
            "update.corrected",
            "update.retracted",
            "update.pinned",
            "update.unpinned",
            "update.key_event_set",
            "update.key_event_unset",
            "update.reinstated",
        ]
    )
