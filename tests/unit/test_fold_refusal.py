"""The fold refuses an event it cannot apply without changing the story's state, so the
feed can write the story as its earlier events left it and mark the rest."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from liveblog.domain import Story
from projections.story import UnknownEvent, apply_event, fold


def test_an_event_the_fold_refuses_leaves_the_state_as_it_was() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    story_id = uuid4()
    by = {"originator_id": story_id, "timestamp": at, "actor_id": "p", "actor_name": "P"}
    opened: Any = Story.Opened
    corrected: Any = Story.UpdateCorrected
    state = fold([opened(originator_version=1, originator_topic="liveblog.domain:Story",
                         slug="s", title="T", summary="", **by)])  # fmt: skip
    assert state is not None
    before = (state.version, state.updated_at)

    unknown_update = corrected(originator_version=2, update_id=uuid4(), title=None, body="b",
                               note="n", reverted_to=None, media=None, **by)  # fmt: skip
    with pytest.raises(UnknownEvent):
        apply_event(state, unknown_update)
    assert (state.version, state.updated_at) == before
