"""Events as code before the newsroom-text rule (DESIGN §3) recorded them: U+0000 in a
title, a body and a note, written straight on the aggregate, unchecked."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from liveblog.domain import Story
from liveblog.newsroom import Newsroom
from tests.helpers import EDITOR


def record_unchecked(newsroom: Newsroom, story_id: UUID, event_class: type[Any],
                     **fields: Any) -> None:  # fmt: skip
    """Record an event as code before the rule did: straight on the aggregate, unchecked."""
    story = newsroom.get_story(story_id)
    story.trigger_event(event_class, actor_id=EDITOR.id, actor_name=EDITOR.name, **fields)
    newsroom.save(story)


def write_old_text(newsroom: Newsroom, story_id: UUID) -> UUID:
    """An edit, a post and a correction holding U+0000; returns the update's id."""
    update_id = uuid4()
    record_unchecked(newsroom, story_id, Story.Edited, title="Old\x00title", summary="s\x00")
    record_unchecked(newsroom, story_id, Story.UpdatePosted, update_id=update_id,
                     title="Nul\x00title", body="<p>Nul\x00body</p>", key_event=True,
                     pinned=False, approved_by_id=None, approved_by_name=None,
                     media=[])  # fmt: skip
    record_unchecked(newsroom, story_id, Story.UpdateCorrected, update_id=update_id,
                     title=None, body="<p>Nul\x00again</p>", note="Nul\x00note",
                     reverted_to=None, media=None)  # fmt: skip
    return update_id
