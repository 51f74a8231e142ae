"""``update_doc`` writes exactly ``dumps(update_json(...))``: the views store its text.

A rebuild's packed chunks carry the same values for its writer to store
(``projections.views.rebuilding``): they must come out as the same text.

Hypothesis draws updates in every state a fold can leave them in (posted, corrected,
retracted, flagged), with times in UTC and, for the fallback, in other zones and as
``datetime`` subclasses and ids as ``UUID`` subclasses.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import orjson
from hypothesis import given
from hypothesis import strategies as st

from projections.story import Correction, Person, Retraction, Revision, UpdateView
from projections.views.rebuilding import ChunkRows, pack_chunk, packed_update, unpack_chunk
from projections.wire import (
    UpdateText,
    dumps,
    id_for_orjson,
    rfc3339,
    time_for_orjson,
    update_doc,
    update_doc_of_text,
    update_json,
)


class OtherDatetime(datetime):
    """A datetime subclass: orjson does not write these itself."""


class OtherUUID(UUID):
    """A UUID subclass, likewise."""


ZONES = st.sampled_from([UTC, timezone(timedelta(0)), timezone(timedelta(hours=6))])
MOMENTS = st.builds(
    lambda moment, zone, subclass: (OtherDatetime if subclass else datetime).fromtimestamp(
        moment.timestamp(), zone
    ),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    ZONES,
    st.booleans(),
)
UTC_MOMENTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
TEXTS = st.text(max_size=40)
PEOPLE = st.builds(Person, id=TEXTS, name=TEXTS)
MEDIA_ITEMS = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("image"), "url": TEXTS, "alt": TEXTS,
         "caption": st.none() | TEXTS, "credit": st.none() | TEXTS}
    ),
    st.fixed_dictionaries(
        {"type": st.just("embed"), "url": TEXTS, "provider": st.sampled_from(["x", "vimeo"])}
    ),
)  # fmt: skip
IDS = st.one_of(st.uuids(), st.uuids().map(lambda u: OtherUUID(int=u.int)))


@st.composite
def updates(draw: Any, moments: st.SearchStrategy[datetime] = MOMENTS) -> UpdateView:
    published = draw(moments)
    author = draw(PEOPLE)
    body, title = draw(TEXTS), draw(TEXTS)
    corrections = draw(st.lists(st.builds(Correction, at=moments, note=TEXTS, by=PEOPLE)))
    retraction = draw(st.none() | st.builds(Retraction, at=moments, reason=TEXTS, by=PEOPLE))
    return UpdateView(
        id=draw(IDS),
        story_id=draw(IDS),
        sequence=draw(st.integers(1, 10_000)),
        title="" if retraction else title,
        body="" if retraction else body,
        author=author,
        key_event=draw(st.booleans()),
        pinned=draw(st.booleans()),
        status="retracted" if retraction else "published",
        published_at=published,
        updated_at=draw(moments),
        revision=1 + len(corrections) + (1 if retraction else 0),
        corrections=corrections,
        retraction=retraction,
        revisions=[Revision(1, published, body, title, None, author)],
        approved_by=draw(st.none() | PEOPLE),
        media=[] if retraction else draw(st.lists(MEDIA_ITEMS, max_size=3)),
    )


@given(updates())
def test_update_doc_is_the_text_of_update_json(update: UpdateView) -> None:
    assert update_doc(update) == dumps(update_json(update)).decode()


@given(updates(UTC_MOMENTS))
def test_update_doc_is_the_text_of_update_json_for_event_times(update: UpdateView) -> None:
    # Event times are UTC: the path every stored update takes.
    assert update_doc(update) == dumps(update_json(update)).decode()


@given(IDS, MOMENTS)
def test_ids_and_times_in_a_packed_chunk_are_the_text_the_views_store(
    identifier: UUID, moment: datetime
) -> None:
    packed = orjson.dumps(
        [id_for_orjson(identifier), time_for_orjson(moment)], option=orjson.OPT_UTC_Z
    )
    assert orjson.loads(packed) == [str(identifier), rfc3339(moment)]


@given(updates())
def test_an_update_through_a_packed_chunk_makes_the_same_doc_and_timeline_fields(
    update: UpdateView,
) -> None:
    sent = pack_chunk(False, 1, ChunkRows([], [packed_update(update)], []))
    [received] = unpack_chunk(sent)[3]
    assert update_doc_of_text(received) == update_doc(update)
    assert received == UpdateText(
        str(update.id), str(update.story_id), update.sequence, update.title, update.body,
        [update.author.id, update.author.name], update.key_event, update.pinned,
        update.status, rfc3339(update.published_at), rfc3339(update.updated_at),
        update.revision,
        [[rfc3339(c.at), c.note, [c.by.id, c.by.name]] for c in update.corrections],
        None if update.retraction is None else [
            rfc3339(update.retraction.at), update.retraction.reason,
            [update.retraction.by.id, update.retraction.by.name],
        ],
        None if update.approved_by is None else [update.approved_by.id, update.approved_by.name],
        list(update.media),
    )  # fmt: skip
