"""The orjson transcoder keeps the types that plain JSON would lose."""

from __future__ import annotations

import dataclasses
import types
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest

from liveblog.domain import UpdateRecord, UpdateRecords
from liveblog.transcoder import DATA_KEY, TYPE_KEY, OrjsonTranscoder


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


def update_record(revision: int = 1, *, pinned: bool = False) -> UpdateRecord:
    return UpdateRecord(
        author_id="reporter-aida",
        first_digest="0f" * 16,
        body_digest="a1" * 16,
        revision=revision,
        pinned=pinned,
        key_event=False,
        retracted=False,
    )


def test_update_records_in_a_snapshot_come_back_as_records() -> None:
    record = update_record(2, pinned=True)
    key = str(uuid4())

    back = roundtrip({"updates": {key: record}})

    assert back == {"updates": {key: record}}
    assert isinstance(back["updates"][key], UpdateRecord)


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


# -- tables: a dict of records, stored as columns ------------------------------------------


class Points(dict[str, Point]):
    """A table whose records have a field a table cannot store (``tags``, a tuple)."""


@dataclass
class Sighting:
    """A record of every column type a table can store."""

    id: UUID
    at: datetime
    seen_by: str
    count: int
    weight: float
    confirmed: bool
    parent: UUID | None
    until: datetime | None
    note: str | None


class Sightings(dict[str, Sighting]):
    pass


@dataclass
class SightingV2:
    """``Sighting`` as it might evolve: ``weight`` dropped, ``source`` and ``desk`` added."""

    id: UUID
    at: datetime
    seen_by: str
    count: int
    confirmed: bool
    parent: UUID | None
    until: datetime | None
    note: str | None
    source: str = "field"
    desk: str = field(default_factory=lambda: "news")


def make_table_transcoder() -> OrjsonTranscoder:
    return OrjsonTranscoder(
        record_types=(UpdateRecord,),
        tables={UpdateRecords: UpdateRecord, Sightings: Sighting},
    )


def sighting(n: int, *, optional: bool) -> Sighting:
    at = datetime(2020, 10, 6, 3, 15, n, n * 1000, tzinfo=timezone(timedelta(hours=6)))
    return Sighting(
        id=uuid4(),
        at=at,
        seen_by=f"reporter-{n} ✎",
        count=n,
        weight=n + 0.5 if optional else n,  # an int in a float field comes back a float
        confirmed=n % 2 == 0,
        parent=uuid4() if optional else None,
        until=at + timedelta(minutes=n) if optional else None,
        note="Ала-Тоо" if optional else None,
    )


def test_an_update_table_comes_back_as_itself_in_order_with_its_records() -> None:
    keys = [str(uuid4()) for _ in range(5)]
    table = UpdateRecords((key, update_record(n + 1, pinned=n == 2)) for n, key in enumerate(keys))
    transcoder = make_table_transcoder()

    back = transcoder.decode(transcoder.encode({"updates": table, "closed": False}))

    assert back == {"updates": table, "closed": False}
    assert type(back["updates"]) is UpdateRecords
    assert list(back["updates"]) == keys
    assert all(type(record) is UpdateRecord for record in back["updates"].values())
    assert back["updates"][keys[2]].pinned is True
    assert back["updates"][keys[4]].revision == 5


def test_an_empty_table_comes_back_empty_and_of_its_type() -> None:
    transcoder = make_table_transcoder()

    back = transcoder.decode(transcoder.encode(UpdateRecords()))

    assert back == {}
    assert type(back) is UpdateRecords


def test_table_columns_come_back_with_their_declared_types() -> None:
    table = Sightings((str(n), sighting(n, optional=n % 2 == 1)) for n in range(4))
    transcoder = make_table_transcoder()

    back = transcoder.decode(transcoder.encode(table))

    assert back == table
    for key, record in back.items():
        original = table[key]
        assert type(record.id) is UUID
        assert type(record.at) is datetime
        assert record.at.utcoffset() == timedelta(hours=6)
        assert record.at.microsecond == original.at.microsecond
        assert type(record.count) is int
        assert type(record.weight) is float
        assert type(record.confirmed) is bool
        assert record.parent == original.parent
        assert record.parent is None or type(record.parent) is UUID
        assert record.until is None or record.until.utcoffset() == timedelta(hours=6)


def test_a_table_is_stored_as_one_tagged_object_of_columns() -> None:
    keys = [str(uuid4()) for _ in range(3)]
    table = UpdateRecords((key, update_record(n + 1)) for n, key in enumerate(keys))

    stored = orjson.loads(make_table_transcoder().encode(table))

    assert stored[TYPE_KEY] == "table:UpdateRecords"
    assert stored[DATA_KEY]["keys"] == keys
    assert stored[DATA_KEY]["columns"]["revision"] == [1, 2, 3]
    assert stored[DATA_KEY]["columns"]["author_id"] == ["reporter-aida"] * 3
    assert set(stored[DATA_KEY]["columns"]) == {
        "author_id",
        "first_digest",
        "body_digest",
        "revision",
        "pinned",
        "key_event",
        "retracted",
        "title_digest",
        "media_digest",
    }


def test_a_stored_table_loads_into_a_record_type_that_changed_since() -> None:
    table = Sightings((str(n), sighting(n, optional=True)) for n in range(3))
    stored = make_table_transcoder().encode(table)

    # The table type as it is now: the same name, so the same stored tag.
    evolved = types.new_class("Sightings", (dict[str, SightingV2],))

    back: dict[str, SightingV2] = OrjsonTranscoder(tables={evolved: SightingV2}).decode(stored)

    assert type(back) is evolved
    assert list(back) == list(table)
    for key, record in back.items():
        assert (record.source, record.desk) == ("field", "news")  # added: their defaults
        assert not hasattr(record, "weight")  # dropped: ignored
        assert (record.id, record.at, record.parent) == (
            table[key].id,
            table[key].at,
            table[key].parent,
        )


def test_a_stored_table_missing_a_column_without_default_is_refused() -> None:
    stored = orjson.dumps(
        {TYPE_KEY: "table:UpdateRecords", DATA_KEY: {"keys": ["a"], "columns": {"revision": [1]}}}
    )

    with pytest.raises(ValueError, match="no column 'author_id'"):
        make_table_transcoder().decode(stored)


def test_a_stored_table_with_a_short_column_is_refused() -> None:
    table = UpdateRecords((str(n), update_record()) for n in range(2))
    stored = orjson.loads(make_table_transcoder().encode(table))
    stored[DATA_KEY]["columns"]["pinned"].pop()

    with pytest.raises(ValueError, match="'pinned' has 1 values for 2 keys"):
        make_table_transcoder().decode(orjson.dumps(stored))


def test_an_unknown_table_is_refused() -> None:
    stored = make_table_transcoder().encode(UpdateRecords())

    with pytest.raises(ValueError, match="unknown table type"):
        OrjsonTranscoder().decode(stored)


def test_a_table_of_records_with_fields_json_would_change_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Point\.tags: a table cannot store"):
        OrjsonTranscoder(tables={Points: Point})


def test_a_table_type_must_be_a_dict() -> None:
    with pytest.raises(TypeError, match="must subclass dict"):
        OrjsonTranscoder(tables={list: UpdateRecord})


def test_a_plain_dict_of_records_is_still_stored_record_by_record() -> None:
    key = str(uuid4())

    stored = orjson.loads(make_table_transcoder().encode({key: update_record()}))

    assert stored[key][TYPE_KEY] == "record:UpdateRecord"


def test_a_record_stored_with_a_field_it_no_longer_has_loads_without_it() -> None:
    # Snapshots stored before the table format held each update's id in its record.
    update_id = uuid4()
    old = {
        TYPE_KEY: "record:UpdateRecord",
        DATA_KEY: {
            "id": {TYPE_KEY: "uuid", DATA_KEY: update_id.hex},
            **dataclasses.asdict(update_record()),
        },
    }

    back = make_table_transcoder().decode(orjson.dumps({str(update_id): old}))

    assert back == {str(update_id): update_record()}
