"""The orjson transcoder keeps the types that plain JSON would lose."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest

from liveblog.domain import UpdateRecord
from liveblog.transcoder import OrjsonTranscoder


@dataclass
class Point:
    """A registered record type holding typed values of its own."""

    id: UUID
    at: datetime
    tags: tuple[str, ...]


@dataclass
class Unregistered:
    value: int


def make_transcoder() -> OrjsonTranscoder:
    return OrjsonTranscoder(record_types=(Point, UpdateRecord))


def roundtrip(value: Any) -> Any:
    transcoder = make_transcoder()
    data = transcoder.encode(value)
    assert isinstance(data, bytes)
    return transcoder.decode(data)


def test_a_uuid_comes_back_as_a_uuid() -> None:
    value = uuid4()
    back = roundtrip(value)
    assert isinstance(back, UUID)
    assert back == value


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2020, 10, 6, 3, 15, 0, 123456, tzinfo=UTC),
        datetime(2020, 10, 6, 9, 15, tzinfo=timezone(timedelta(hours=6), "KGT")),
    ],
    ids=["utc", "bishkek-offset"],
)
def test_a_tz_aware_datetime_comes_back_aware_and_equal(moment: datetime) -> None:
    back = roundtrip(moment)
    assert isinstance(back, datetime)
    assert back == moment
    assert back.utcoffset() == moment.utcoffset()
    assert back.microsecond == moment.microsecond


def test_a_tuple_comes_back_as_a_tuple_and_a_list_as_a_list() -> None:
    back = roundtrip({"t": (1, "two", (3.5, None)), "l": [1, [2, (3,)]]})
    assert back == {"t": (1, "two", (3.5, None)), "l": [1, [2, (3,)]]}
    assert type(back["t"]) is tuple
    assert type(back["t"][2]) is tuple
    assert type(back["l"]) is list
    assert type(back["l"][1]) is list
    assert type(back["l"][1][1]) is tuple


def test_nested_dicts_and_lists_keep_every_type() -> None:
    story_id, update_id = uuid4(), uuid4()
    at = datetime(2020, 10, 6, 3, 15, tzinfo=UTC)
    value = {
        "story": {"id": story_id, "versions": (1, 2, 3)},
        "updates": [
            {"id": update_id, "at": at, "flags": {"pinned": True, "key_event": False}},
            {"id": None, "at": None, "flags": {}},
        ],
        "text": "Ала-Тоо 🇰🇬",
        "count": 3,
        "ratio": 0.5,
    }

    back = roundtrip(value)

    assert back == value
    assert isinstance(back["story"]["id"], UUID)
    assert isinstance(back["story"]["versions"], tuple)
    assert isinstance(back["updates"][0]["id"], UUID)
    assert isinstance(back["updates"][0]["at"], datetime)
    assert back["updates"][0]["at"].tzinfo is not None
    assert back["updates"][0]["flags"]["pinned"] is True
    assert back["count"] == 3
    assert isinstance(back["count"], int)


def test_a_registered_dataclass_comes_back_as_itself_with_typed_fields() -> None:
    point = Point(id=uuid4(), at=datetime(2020, 10, 6, tzinfo=UTC), tags=("a", "b"))

    back = roundtrip({"points": [point], "by_id": {str(point.id): point}})

    (first,) = back["points"]
    assert isinstance(first, Point)
    assert first == point
    assert isinstance(first.id, UUID)
    assert isinstance(first.at, datetime)
    assert isinstance(first.tags, tuple)
    assert back["by_id"][str(point.id)] == point


def test_update_records_in_a_snapshot_come_back_as_records() -> None:
    record = UpdateRecord(
        id=uuid4(),
        author_id="reporter-aida",
        first_digest="0f" * 16,
        body_digest="a1" * 16,
        revision=2,
        pinned=True,
        key_event=False,
        retracted=False,
    )

    back = roundtrip({"updates": {str(record.id): record}})

    assert back == {"updates": {str(record.id): record}}
    assert isinstance(back["updates"][str(record.id)], UpdateRecord)


def test_uuids_and_datetimes_are_tagged_in_the_stored_json() -> None:
    value = {"id": UUID(int=1), "at": datetime(2020, 10, 6, tzinfo=UTC)}

    stored = orjson.loads(make_transcoder().encode(value))

    assert stored["id"] == {"_type_": "uuid", "_data_": UUID(int=1).hex}
    assert stored["at"] == {"_type_": "datetime", "_data_": "2020-10-06T00:00:00+00:00"}


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(Unregistered(1), id="unregistered-dataclass"),
        pytest.param({"nested": [Unregistered(1)]}, id="nested-unregistered-dataclass"),
        pytest.param(Decimal("1.5"), id="decimal"),
        pytest.param({1, 2}, id="set"),
        pytest.param(b"bytes", id="bytes"),
        pytest.param(object(), id="object"),
    ],
)
def test_an_unregistered_type_is_refused_with_a_type_error(value: Any) -> None:
    with pytest.raises(TypeError, match="cannot store a value of type"):
        make_transcoder().encode(value)


def test_a_dataclass_that_only_shares_a_registered_name_is_refused() -> None:
    @dataclass
    class Point:  # same name as the registered one, another class
        x: int

    with pytest.raises(TypeError, match="cannot store"):
        make_transcoder().encode(Point(1))


def test_a_transcoder_without_record_types_refuses_records() -> None:
    with pytest.raises(TypeError):
        OrjsonTranscoder().encode(Point(id=uuid4(), at=datetime.now(UTC), tags=()))
