"""Newsroom text (DESIGN §3): what the domain refuses, what it normalises, and how the
read side shows what older code recorded before the rule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from liveblog.domain import (
    InvalidField,
    Story,
    check_text,
    text_problem,
)
from projections.story import fold, storable_text
from tests.helpers import EDITOR, REPORTER
from tests.unit.stories import LIMITS, SLUG, Command, correct, open_story, post

# One of each kind the rule refuses: C0 controls (but tab and newline), lone surrogates
# (high and low), and non-characters (the Arabic block's, and U+xFFFE/U+xFFFF of the
# first, second and last planes).
REFUSED = [
    "\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f",
    "\ud800", "\udbff", "\udc00", "\udfff",
    "\ufdd0", "\ufdef", "\ufffe", "\uffff", "\U0001fffe", "\U0001ffff", "\U0002fffe",
    "\U0010fffe", "\U0010ffff",
]  # fmt: skip
# Neighbours of the refused ones that newsroom text may hold.
# (U+20000 and up are checked one by one after a fast scan: some of each kind are here.)
ALLOWED = [
    "\t", "\n", " ", "\x7f", "\ufdcf", "\ufdf0", "\ufffd", "\U0001f600", "\U0001fffd",
    "\U00020000", "\U0002fffd", "\U0010fffd",
]  # fmt: skip


@pytest.mark.parametrize("char", REFUSED, ids=[f"U+{ord(c):04X}" for c in REFUSED])
@pytest.mark.parametrize(("command", "field", "limit"), LIMITS)
def test_every_text_field_refuses_what_newsroom_text_does_not_hold(
    command: Command, field: str, limit: int, char: str
) -> None:
    story = open_story()
    with pytest.raises(InvalidField, match=f"must not contain U\\+{ord(char):04X}") as caught:
        command(story, f"Before{char}after")
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert story.pending_events == []  # (a setup post's events were collected)


@pytest.mark.parametrize("char", ALLOWED, ids=[f"U+{ord(c):04X}" for c in ALLOWED])
@pytest.mark.parametrize(("command", "field", "limit"), LIMITS)
def test_every_text_field_takes_the_characters_next_to_the_refused_ones(
    command: Command, field: str, limit: int, char: str
) -> None:
    command(open_story(), f"Before{char}after")


@pytest.mark.parametrize("char", REFUSED[:3] + REFUSED[7:8] + REFUSED[11:12])
def test_a_slug_and_a_story_summary_refuse_them_too(char: str) -> None:
    with pytest.raises(InvalidField) as caught:
        Story.open(slug=f"a{char}b", title="Title", summary="", actor=EDITOR)
    assert caught.value.field == "slug"
    with pytest.raises(InvalidField) as caught:
        Story.open(slug="a-b", title="Title", summary=f"a{char}b", actor=EDITOR)
    assert caught.value.field == "summary"


def test_a_refused_character_anywhere_in_a_long_text_is_found() -> None:
    story = open_story()
    with pytest.raises(InvalidField, match="U\\+0000") as caught:
        post(story, body="x" * 19_000 + "\x00")
    assert caught.value.field == "body"


def test_crlf_and_a_lone_cr_are_recorded_as_lf() -> None:
    story = Story.open(slug=SLUG, title="Line\r\nends", summary="one\rtwo\r\n", actor=EDITOR)
    opened = story.collect_events()[0]
    assert isinstance(opened, Story.Opened)
    assert (opened.title, opened.summary) == ("Line\nends", "one\ntwo\n")

    update_id = post(story, title="A\r\nB", body="<p>x</p>\r\n<p>y</p>")
    correct(story, update_id, body="<p>z</p>\r\n", note="one\r\ntwo")
    corrected = story.collect_events()[-1]
    assert isinstance(corrected, Story.UpdateCorrected)
    assert (corrected.body, corrected.note) == ("<p>z</p>\n", "one\ntwo")
    story.retract_update(update_id=update_id, reason="a\r\nb", actor=EDITOR)
    retracted = story.collect_events()[-1]
    assert isinstance(retracted, Story.UpdateRetracted)
    assert retracted.reason == "a\nb"


def test_a_retried_post_with_crlf_is_the_same_post_not_a_conflict() -> None:
    story = open_story()
    update_id = uuid4()
    first = story.post_update(
        update_id=update_id, title="T\r\n", body="<p>a</p>\r\n<p>b</p>", key_event=False,
        pinned=False, actor=REPORTER,
    )  # fmt: skip
    story.collect_events()
    again = story.post_update(
        update_id=update_id, title="T\r\n", body="<p>a</p>\r\n<p>b</p>", key_event=False,
        pinned=False, actor=REPORTER,
    )  # fmt: skip
    assert (first, again) == (True, False)
    assert story.pending_events == []


def test_an_edit_to_the_same_text_with_crlf_changes_nothing() -> None:
    story = Story.open(slug=SLUG, title="A\nB", summary="", actor=EDITOR)
    story.collect_events()
    with pytest.raises(Exception, match="already so"):
        story.edit(title="A\r\nB", summary=None, actor=EDITOR)


def test_check_text_returns_the_text_to_record() -> None:
    assert check_text("title", "a\r\nb\rc\td", limit=10) == "a\nb\nc\td"
    assert text_problem("fine\ttext\n") is None
    assert text_problem("a\r\nb") is None  # a CR is made LF, not refused
    problem = text_problem("a\x00b")
    assert problem is not None
    assert problem.startswith("must not contain U+0000")


def test_the_scan_finds_the_first_refused_character_among_allowed_ones() -> None:
    # Characters whose UTF-8 holds the byte pairs of non-characters, and astral ones the
    # fast scan hands to the exact one, pass; the refused one after them is named.
    allowed = "\ufdc0\ufdff\u3ffe\u3fff\U00020000\U0001f600 \xbf\xbe"
    assert text_problem(allowed) is None
    assert text_problem(allowed + "\U0002ffff") == text_problem("\U0002ffff")
    assert text_problem("\ufdc0\ufdd0\x00") == text_problem("\ufdd0")


def test_the_fold_makes_u0000_storable_and_leaves_other_text_as_recorded() -> None:
    text = "Keep\ttabs\nand lines"
    assert storable_text(text) is text  # nothing to change: the same object, no copy
    assert storable_text("a\x00b\x00") == "a\ufffdb\ufffd"
    assert storable_text("a\x01\uffff\r\n") == "a\x01\uffff\r\n"


def _recorded_before_the_rule() -> list[Any]:
    """A story's events as code before the rule recorded them: U+0000 in every text."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    story_id, update_id = uuid4(), uuid4()
    by = {"actor_id": "p-1", "actor_name": "Old\x00Name"}
    made: list[tuple[Any, dict[str, Any]]] = [
        (Story.Opened, {"originator_topic": "liveblog.domain:Story", "slug": "old",
                        "title": "T\x00", "summary": "S\x00"}),
        (Story.Edited, {"title": "T2\x00", "summary": "S2\x00"}),
        (Story.UpdatePosted, {"update_id": update_id, "title": "U\x00",
                              "body": "<p>B\x00</p>", "key_event": False, "pinned": False,
                              "approved_by_id": None, "approved_by_name": None,
                              "media": []}),
        (Story.UpdateCorrected, {"update_id": update_id, "title": "U2\x00",
                                 "body": "<p>C\x00</p>", "note": "N\x00",
                                 "reverted_to": None, "media": None}),
        (Story.UpdateRetracted, {"update_id": update_id, "reason": "R\x00"}),
    ]  # fmt: skip
    return [
        event_class(originator_id=story_id, originator_version=version, timestamp=at,
                    **by, **fields)
        for version, (event_class, fields) in enumerate(made, 1)
    ]  # fmt: skip


def test_the_fold_shows_text_recorded_before_the_rule_with_replacement_characters() -> None:
    events = _recorded_before_the_rule()
    state = fold(events[:4])
    assert state is not None
    assert (state.title, state.summary) == ("T2\ufffd", "S2\ufffd")
    (update,) = state.updates.values()
    assert (update.title, update.body) == ("U2\ufffd", "<p>C\ufffd</p>")
    assert update.author.name == "Old\ufffdName"
    assert update.corrections[0].note == "N\ufffd"
    assert [(r.title, r.body, r.note) for r in update.revisions] == [
        ("U\ufffd", "<p>B\ufffd</p>", None),
        ("U2\ufffd", "<p>C\ufffd</p>", "N\ufffd"),
    ]
    state = fold(events[4:], state)
    assert state is not None
    (update,) = state.updates.values()
    assert update.retraction is not None
    assert update.retraction.reason == "R\ufffd"
