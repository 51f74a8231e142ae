"""Stories made in memory, straight on the aggregate, for the domain's unit tests: each
helper forgets the events it made, so a test sees only its own."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

import pytest

from liveblog.domain import Actor, Story
from tests.helpers import EDITOR, REPORTER

SLUG = "bishkek-protests"
BODY = "<p>Protesters have gathered on Ala-Too Square.</p>"


def open_story(slug: str = SLUG, title: str = "Protests in Bishkek", summary: str = "") -> Story:
    story = Story.open(slug=slug, title=title, summary=summary, actor=EDITOR)
    story.collect_events()
    return story


def post(
    story: Story,
    *,
    body: str = BODY,
    title: str = "",
    actor: Actor = REPORTER,
    update_id: UUID | None = None,
    key_event: bool = False,
    pinned: bool = False,
) -> UUID:
    """Post an update and forget its events, so each test sees only its own."""
    update_id = update_id or uuid4()
    assert story.post_update(
        update_id=update_id,
        title=title,
        body=body,
        key_event=key_event,
        pinned=pinned,
        actor=actor,
    )
    story.collect_events()
    return update_id


def correct(
    story: Story,
    update_id: UUID,
    *,
    body: str = "<p>Corrected.</p>",
    note: str = "Fixed the square's name.",
    actor: Actor = REPORTER,
    as_editor: bool = False,
    expected_revision: int | None = None,
) -> None:
    story.correct_update(
        update_id=update_id,
        body=body,
        note=note,
        actor=actor,
        as_editor=as_editor,
        expected_revision=expected_revision,
    )


# -- one command per limited field --------------------------------------------------------

Command = Callable[[Story, str], object]


def _open_with_title(story: Story, value: str) -> object:
    return Story.open(slug="other", title=value, summary="", actor=EDITOR)


def _open_with_summary(story: Story, value: str) -> object:
    return Story.open(slug="other", title="Title", summary=value, actor=EDITOR)


def _edit_title(story: Story, value: str) -> object:
    story.edit(title=value, summary=None, actor=EDITOR)
    return None


def _post_title(story: Story, value: str) -> object:
    return story.post_update(
        update_id=uuid4(), title=value, body=BODY, key_event=False, pinned=False, actor=REPORTER
    )


def _post_body(story: Story, value: str) -> object:
    return story.post_update(
        update_id=uuid4(), title="", body=value, key_event=False, pinned=False, actor=REPORTER
    )


def _correct_body(story: Story, value: str) -> object:
    correct(story, post(story), body=value)
    return None


def _correct_note(story: Story, value: str) -> object:
    correct(story, post(story), note=value)
    return None


def _retract_reason(story: Story, value: str) -> object:
    story.retract_update(update_id=post(story), reason=value, actor=EDITOR)
    return None


# Each limited field with the limit the README documents (written out, not imported: a
# changed limit must show here as a changed test).
LIMITS = [
    pytest.param(_open_with_title, "title", 300, id="story-title"),
    pytest.param(_open_with_summary, "summary", 2_000, id="story-summary"),
    pytest.param(_edit_title, "title", 300, id="edited-title"),
    pytest.param(_post_title, "title", 300, id="update-title"),
    pytest.param(_post_body, "body", 20_000, id="update-body"),
    pytest.param(_correct_body, "body", 20_000, id="corrected-body"),
    pytest.param(_correct_note, "note", 2_000, id="correction-note"),
    pytest.param(_retract_reason, "reason", 2_000, id="retraction-reason"),
]
