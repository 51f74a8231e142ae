"""Backlog frames as the public may see them: never text a correction or retraction took
back (DESIGN §5). Sans-I/O: frames in, frames out; the hub's channel keeps the newest
frame of each update and rewrites a late frame once, however many readers ask."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import orjson

from liveblog.live.frames import PUBLIC_TEXT_FIELDS, Frame, public_backlog, text_print
from liveblog.live.hub import MAX_REWRITTEN, RING_SIZE, Channel

A = uuid4()
B = uuid4()


def update(update_id: UUID, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": str(update_id), "title": "", "body": "<p>First.</p>", "media": [], "pinned": False,
        "status": "published", "retraction": None, "revision": 1, "corrections": [],
    }  # fmt: skip
    doc.update(fields)
    return doc


def frame(version: int, event: str, doc: dict[str, Any] | None) -> Frame:
    data = {"update": doc} if doc is not None else {"story": {"title": "Night"}}
    text = orjson.dumps({"type": "event", "version": version, "event": event, "data": data})
    if doc is None:
        return Frame(version, text.decode())
    return Frame(version, text.decode(), UUID(doc["id"]), text_print(doc))


def data_of(sent: Frame) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(sent.text)["data"]
    return doc


SECRET = "<p>The minister resigned.</p>"
TOMBSTONE = {"status": "retracted", "title": "", "body": "", "media": [],
             "retraction": {"at": "2020-10-06T10:00:00Z", "reason": "Not confirmed."}}  # fmt: skip


def history() -> list[Frame]:
    """A posted with a secret body, corrected; B posted, pinned, then retracted."""
    return [
        frame(2, "update.posted", update(A, title="Minister", body=SECRET)),
        frame(3, "story.updated", None),
        frame(4, "update.posted", update(B, body="<p>Crowds at the square.</p>")),
        frame(5, "update.corrected", update(A, title="Minister", body="<p>Not so.</p>",
                                            revision=2, corrections=[{"note": "Denied."}])),
        frame(6, "update.pinned", update(B, body="<p>Crowds at the square.</p>", pinned=True)),
        frame(7, "update.retracted", update(B, revision=2, **TOMBSTONE)),
    ]  # fmt: skip


def test_a_backlog_shows_each_update_as_it_now_stands_and_keeps_the_rest_of_each_frame() -> None:
    frames = history()
    public = public_backlog(frames)
    assert [f.version for f in public] == [2, 3, 4, 5, 6, 7]
    assert all(SECRET not in f.text and "Crowds" not in f.text for f in public)
    posted_a = data_of(public[0])["update"]
    assert posted_a == {**update(A, title="Minister", body="<p>Not so.</p>")}
    assert posted_a["corrections"] == []  # the note comes with the correction's own frame
    assert data_of(public[2])["update"] == update(B, revision=1, **TOMBSTONE)
    assert data_of(public[4])["update"] == update(B, pinned=True, **TOMBSTONE)
    # Frames that show nothing taken back are the very same objects: no copy, no work.
    for index in (1, 3, 5):
        assert public[index] is frames[index]


PHOTO = [{"type": "image", "url": "https://images.example/wrong-man.jpg",
          "alt": "The wrong man", "caption": None, "credit": None}]  # fmt: skip


def test_media_taken_back_by_a_retraction_or_a_correction_is_never_in_a_backlog() -> None:
    frames = [
        frame(2, "update.posted", update(A, media=PHOTO)),
        frame(3, "update.corrected", update(A, media=[], revision=2,
                                            corrections=[{"note": "Wrong photo."}])),
        frame(4, "update.posted", update(B, media=PHOTO)),
        frame(5, "update.retracted", update(B, revision=2, **TOMBSTONE)),
    ]  # fmt: skip
    public = public_backlog(frames)
    assert all("wrong-man" not in f.text for f in public)
    assert data_of(public[0])["update"]["media"] == []
    assert data_of(public[2])["update"]["media"] == []


def test_a_backlog_that_starts_after_an_update_changed_leaves_its_frames_alone() -> None:
    frames = history()[3:]  # from the correction of A on: nothing of A to fix
    assert public_backlog(frames)[0] is frames[0]


def test_the_channel_serves_a_late_frame_with_the_newest_text_and_rewrites_it_once() -> None:
    channel = Channel()
    frames = history()
    for f in frames:
        channel.ring.append(f)
        if f.update_id is not None:
            channel.remember_update(f.update_id, f)
    first = channel.public(frames[0])
    assert SECRET not in first.text
    assert channel.public(frames[0]) is first  # a storm of resumes rewrites it once
    assert channel.public(frames[3]) is frames[3]  # the correction itself is current
    assert channel.public(frames[1]) is frames[1]  # a story event names no update
    assert data_of(channel.public(frames[2]))["update"]["status"] == "retracted"


def test_a_frame_newer_than_the_channel_knows_is_served_as_it_is() -> None:
    channel = Channel()
    old = frame(2, "update.posted", update(A, body=SECRET))
    assert channel.public(old) is old  # nothing newer of A here: read from the store fresh


def test_the_channel_forgets_updates_the_ring_no_longer_names() -> None:
    channel = Channel()
    for version in range(1, 2 * RING_SIZE + 10):
        f = frame(version, "update.posted", update(uuid4()))
        channel.ring.append(f)
        assert f.update_id is not None
        channel.remember_update(f.update_id, f)
    assert len(channel.newest_of_update) <= 2 * RING_SIZE  # bounded, however many updates
    # ...and every update a frame in the ring names is still known.
    assert {f.update_id for f in channel.ring} <= set(channel.newest_of_update)


def test_the_text_print_covers_every_public_text_field() -> None:
    base = update(A, title="T", body="<p>B</p>")
    for name in PUBLIC_TEXT_FIELDS:
        changed = {**base, name: "other"}
        assert text_print(changed) != text_print(base), name
    assert text_print({**base, "pinned": True}) == text_print(base)


def test_the_channel_keeps_a_bounded_number_of_rewritten_frames() -> None:
    channel = Channel()
    update_id = uuid4()
    stale = [frame(v, "update.pinned", update(update_id, body=SECRET)) for v in range(1, 20_001)]
    newest = frame(20_001, "update.retracted", update(update_id, **TOMBSTONE))
    channel.ring.append(newest)
    channel.remember_update(update_id, newest)
    for old in stale:  # resumes asking for frames long gone from the ring
        assert SECRET not in channel.public(old).text
    assert len(channel.rewritten) <= MAX_REWRITTEN
