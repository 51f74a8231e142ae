"""The Story aggregate's full corrections: the title, the body or both, reverts, and
reinstating a retracted update (DESIGN §3, §4)."""

from __future__ import annotations

import pytest

from liveblog.domain import (
    InvalidField,
    NotRetracted,
    RevisionConflict,
    Story,
    UpdateRetracted,
    digest,
)
from tests.helpers import EDITOR
from tests.unit.stories import BODY, correct, open_story, post

TITLE = "Crowds"


def assert_nothing_recorded(story: Story, version: int) -> None:
    assert story.pending_events == []
    assert story.version == version


def test_a_correction_of_the_title_alone_records_the_title_and_no_body() -> None:
    story = open_story()
    update_id = post(story, title=TITLE, body=BODY)

    story.correct_update(
        update_id=update_id, title="Crowds grow", note="Headline", actor=EDITOR, as_editor=True
    )

    (event,) = story.collect_events()
    assert isinstance(event, Story.UpdateCorrected)
    assert (event.title, event.body, event.note) == ("Crowds grow", None, "Headline")
    assert event.reverted_to is None
    record = story.find_update(update_id)
    assert (record.title_digest, record.body_digest) == (digest("Crowds grow"), digest(BODY))
    assert record.revision == 2


def test_a_field_given_as_it_is_is_left_out_of_the_correction() -> None:
    story = open_story()
    update_id = post(story, title=TITLE, body=BODY)

    story.correct_update(
        update_id=update_id, title=TITLE, body="<p>New.</p>", note="Body", actor=EDITOR,
        as_editor=True,
    )  # fmt: skip

    (event,) = story.collect_events()
    assert isinstance(event, Story.UpdateCorrected)
    assert (event.title, event.body) == (None, "<p>New.</p>")


def test_a_correction_that_gives_both_as_they_are_is_refused() -> None:
    story = open_story()
    update_id = post(story, title=TITLE, body=BODY)

    with pytest.raises(InvalidField, match="must change the title, the body or media"):
        story.correct_update(
            update_id=update_id, title=TITLE, body=BODY, note="n", actor=EDITOR, as_editor=True
        )
    with pytest.raises(InvalidField, match="must give a title, a body or media"):
        story.correct_update(update_id=update_id, note="n", actor=EDITOR, as_editor=True)
    assert_nothing_recorded(story, version=2)


def test_a_revert_names_the_revision_it_made_current_again() -> None:
    story = open_story()
    update_id = post(story, title=TITLE, body=BODY)
    correct(story, update_id, body="<p>Wrong.</p>")
    story.collect_events()

    story.correct_update(
        update_id=update_id, body=BODY, note="Back to the report", reverted_to=1, actor=EDITOR,
        as_editor=True,
    )  # fmt: skip

    (event,) = story.collect_events()
    assert isinstance(event, Story.UpdateCorrected)
    assert (event.body, event.reverted_to) == (BODY, 1)
    assert story.find_update(update_id).revision == 3


@pytest.mark.parametrize("revision", [0, 2, 3])
def test_a_revert_must_name_an_earlier_revision(revision: int) -> None:
    story = open_story()
    update_id = post(story, body=BODY)
    correct(story, update_id, body="<p>Wrong.</p>")
    story.collect_events()

    with pytest.raises(InvalidField) as caught:
        story.correct_update(
            update_id=update_id, body=BODY, note="n", reverted_to=revision, actor=EDITOR,
            as_editor=True,
        )  # fmt: skip
    assert caught.value.field == "revert_to"
    assert_nothing_recorded(story, version=3)


def test_a_reinstatement_undoes_a_retraction_and_the_update_can_be_edited_again() -> None:
    story = open_story()
    update_id = post(story, title=TITLE, body=BODY)
    story.retract_update(update_id=update_id, reason="Unconfirmed", actor=EDITOR)
    with pytest.raises(UpdateRetracted):
        correct(story, update_id, body="<p>While retracted.</p>", actor=EDITOR, as_editor=True)
    story.collect_events()

    story.reinstate_update(update_id=update_id, reason="Confirmed", actor=EDITOR)

    (event,) = story.collect_events()
    assert isinstance(event, Story.UpdateReinstated)
    assert (event.update_id, event.reason, event.actor_id) == (update_id, "Confirmed", EDITOR.id)
    record = story.find_update(update_id)
    assert (record.retracted, record.revision) == (False, 3)
    correct(story, update_id, body="<p>After.</p>", actor=EDITOR, as_editor=True)
    assert story.find_update(update_id).revision == 4


def test_only_a_retracted_update_can_be_reinstated_and_with_a_reason() -> None:
    story = open_story()
    update_id = post(story, body=BODY)

    with pytest.raises(NotRetracted):
        story.reinstate_update(update_id=update_id, reason="Confirmed", actor=EDITOR)
    story.retract_update(update_id=update_id, reason="Unconfirmed", actor=EDITOR)
    story.collect_events()
    with pytest.raises(InvalidField) as caught:
        story.reinstate_update(update_id=update_id, reason="  ", actor=EDITOR)
    assert caught.value.field == "reason"
    with pytest.raises(RevisionConflict):
        story.reinstate_update(
            update_id=update_id, reason="Confirmed", actor=EDITOR, expected_revision=1
        )
    assert_nothing_recorded(story, version=3)


def test_a_record_from_an_old_snapshot_takes_a_title_as_a_change() -> None:
    """Snapshots taken before titles could be corrected hold no title digest: a title
    given in a correction is then recorded, whatever the title was."""
    story = open_story()
    update_id = post(story, title=TITLE, body=BODY)
    story.find_update(update_id).title_digest = None

    story.correct_update(
        update_id=update_id, title=TITLE, body=BODY, note="n", actor=EDITOR, as_editor=True
    )

    (event,) = story.collect_events()
    assert isinstance(event, Story.UpdateCorrected)
    assert (event.title, event.body) == (TITLE, None)
    assert story.find_update(update_id).title_digest == digest(TITLE)
