"""Resuming a reader, with no sockets: what to send first, and keeping versions contiguous."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liveblog.live.frames import Frame
from liveblog.live.resume import Sequencer, Start, Verdict, parse_since, plan_resume


def frame(version: int) -> Frame:
    return Frame(version, f'{{"type":"event","version":{version}}}')


def ring_of(first: int, last: int) -> list[Frame]:
    return [frame(v) for v in range(first, last + 1)]


def versions(frames: Sequence[Frame]) -> list[int]:
    return [f.version for f in frames]


# -- plan_resume ----------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, ""], ids=["absent", "empty"])
def test_no_cursor_means_a_snapshot(raw: str | None) -> None:
    plan = plan_resume(raw, ring_of(1, 20))
    assert plan.start is Start.SNAPSHOT
    assert plan.since is None
    assert plan.frames == ()


@pytest.mark.parametrize(
    "raw",
    [
        "x",
        "-1",
        "1.5",
        "+1",
        " 1",
        "1 ",
        "1e3",
        "0x10",
        "9" * 19,
        "99999999999999999999999999999999999999",
        "²",  # str.isdigit() says yes; int() says no
        "١٢",  # Arabic-Indic digits: not a cursor we ever hand out
    ],
)
def test_a_malformed_cursor_means_a_reset_snapshot(raw: str) -> None:
    assert parse_since(raw) is Start.RESET
    plan = plan_resume(raw, ring_of(1, 20))
    assert plan.start is Start.RESET
    assert plan.frames == ()


def test_the_largest_cursor_we_accept_is_parsed_as_a_number() -> None:
    assert parse_since("9" * 18) == 10**18 - 1
    assert parse_since("0") == 0
    assert parse_since("007") == 7


def test_a_cursor_inside_the_ring_gets_exactly_the_missed_frames() -> None:
    ring = ring_of(5, 20)
    plan = plan_resume("9", ring)
    assert plan.start is Start.RING
    assert plan.since == 9
    assert versions(plan.frames) == list(range(10, 21))
    assert plan.frames == tuple(ring[5:])  # the ring's own frames, not copies of other text


def test_a_cursor_just_before_the_ring_gets_the_whole_ring() -> None:
    ring = ring_of(5, 20)
    plan = plan_resume("4", ring)
    assert plan.start is Start.RING
    assert versions(plan.frames) == list(range(5, 21))


def test_cursor_zero_with_the_whole_story_in_the_ring_gets_every_frame() -> None:
    plan = plan_resume("0", ring_of(1, 3))
    assert plan.start is Start.RING
    assert plan.since == 0
    assert versions(plan.frames) == [1, 2, 3]


def test_a_cursor_at_the_newest_version_is_served_from_the_ring_with_nothing_to_send() -> None:
    plan = plan_resume("20", ring_of(5, 20))
    assert plan.start is Start.RING
    assert plan.since == 20
    assert plan.frames == ()


def test_a_cursor_older_than_the_ring_needs_the_store() -> None:
    plan = plan_resume("3", ring_of(5, 20))
    assert plan.start is Start.STORE
    assert plan.since == 3
    assert plan.frames == ()


def test_a_cursor_beyond_the_ring_needs_the_store() -> None:
    # Another process may be ahead of this one; only the store can tell a reset from a lag.
    plan = plan_resume("21", ring_of(5, 20))
    assert plan.start is Start.STORE
    assert plan.since == 21
    assert plan.frames == ()


@pytest.mark.parametrize("raw", ["0", "1", "7"])
def test_an_empty_ring_sends_every_cursor_to_the_store(raw: str) -> None:
    plan = plan_resume(raw, [])
    assert plan.start is Start.STORE
    assert plan.since == int(raw)


# -- Sequencer ------------------------------------------------------------------------


def test_the_sequencer_sends_contiguous_versions() -> None:
    sequencer = Sequencer(3)
    assert [sequencer.offer(frame(v)) for v in (4, 5, 6)] == [Verdict.SEND] * 3
    assert sequencer.last_sent == 6


def test_the_sequencer_drops_duplicates_and_old_versions_without_moving() -> None:
    sequencer = Sequencer(0)
    assert sequencer.offer(frame(1)) is Verdict.SEND
    assert sequencer.offer(frame(2)) is Verdict.SEND
    assert sequencer.offer(frame(2)) is Verdict.DROP
    assert sequencer.offer(frame(1)) is Verdict.DROP
    assert sequencer.last_sent == 2
    assert sequencer.offer(frame(3)) is Verdict.SEND


def test_the_sequencer_reports_a_hole_and_sends_nothing_past_it() -> None:
    sequencer = Sequencer(5)
    assert sequencer.offer(frame(7)) is Verdict.HOLE
    assert sequencer.last_sent == 5
    assert sequencer.offer(frame(9)) is Verdict.HOLE
    assert sequencer.last_sent == 5
    assert sequencer.offer(frame(6)) is Verdict.SEND  # the missing one, should it come
    assert sequencer.offer(frame(7)) is Verdict.SEND


def test_the_sequencer_restarts_after_a_snapshot() -> None:
    sequencer = Sequencer(5)
    assert sequencer.offer(frame(9)) is Verdict.HOLE
    sequencer.restart(10)  # a reset snapshot at version 10 was sent
    assert sequencer.last_sent == 10
    assert sequencer.offer(frame(9)) is Verdict.DROP
    assert sequencer.offer(frame(10)) is Verdict.DROP
    assert sequencer.offer(frame(11)) is Verdict.SEND
    assert sequencer.offer(frame(12)) is Verdict.SEND


# -- properties -----------------------------------------------------------------------


@dataclass(frozen=True)
class Candidates:
    """What a session offers its sequencer: a backlog and a live buffer.

    The backlog holds ``since+1..b`` (it may start lower: frames the reader has); the live
    buffer ``l..n``, which overlaps the backlog, follows it, or leaves a gap after it.
    Either may repeat frames (a re-delivered batch).
    """

    since: int
    n: int
    backlog: list[Frame]
    live: list[Frame]
    merged: list[Frame]  # one random interleaving of the two, each kept in its own order

    @property
    def covered(self) -> bool:
        """Backlog and live buffer together hold every version ``since+1..n``."""
        newest_in_backlog = max([self.since, *(f.version for f in self.backlog)])
        return self.live[0].version <= newest_in_backlog + 1


@st.composite
def candidates(draw: st.DrawFn) -> Candidates:
    since = draw(st.integers(0, 30))
    n = draw(st.integers(since + 1, since + 40))
    b = draw(st.integers(since, n))
    backlog_first = draw(st.integers(max(1, since - 5), since + 1))
    live_first = draw(st.integers(max(1, since - 5), n))

    def with_repeats(seq: range) -> list[int]:
        out: list[int] = []
        for v in seq:
            out.append(v)
            if draw(st.integers(0, 3)) == 0:
                out.append(draw(st.sampled_from(out)))  # a repeat, never a frame from ahead
        return out

    backlog = with_repeats(range(backlog_first, b + 1))
    live = with_repeats(range(live_first, n + 1))
    merged: list[int] = []
    i = j = 0
    while i < len(backlog) or j < len(live):
        if j == len(live) or (i < len(backlog) and draw(st.booleans())):
            merged.append(backlog[i])
            i += 1
        else:
            merged.append(live[j])
            j += 1
    return Candidates(
        since,
        n,
        [frame(v) for v in backlog],
        [frame(v) for v in live],
        [frame(v) for v in merged],
    )


def run(sequencer: Sequencer, offered: list[Frame]) -> tuple[list[int], int]:
    """Offer every frame; return the versions sent and how many holes were reported."""
    sent: list[int] = []
    holes = 0
    for offer in offered:
        before = sequencer.last_sent
        verdict = sequencer.offer(offer)
        if verdict is Verdict.SEND:
            assert offer.version == before + 1
            sent.append(offer.version)
        elif verdict is Verdict.DROP:
            assert offer.version <= before
        else:
            assert offer.version > before + 1
            holes += 1
    return sent, holes


@given(candidates())
def test_any_interleaving_sends_a_contiguous_run_with_no_duplicate(case: Candidates) -> None:
    sequencer = Sequencer(case.since)
    sent, holes = run(sequencer, case.merged)
    assert sent == list(range(case.since + 1, case.since + 1 + len(sent)))
    if holes == 0:
        # Nothing was silently lost: every frame offered was sent or already there.
        assert sequencer.last_sent == max([case.since, *(f.version for f in case.merged)])


@given(candidates())
def test_backlog_then_live_buffer_gives_exactly_since_to_n_or_a_hole(case: Candidates) -> None:
    """The order a session offers them in: its whole backlog, then the live buffer."""
    sequencer = Sequencer(case.since)
    sent, holes = run(sequencer, [*case.backlog, *case.live])
    if case.covered:
        assert holes == 0
        assert sent == list(range(case.since + 1, case.n + 1))
    else:
        assert holes > 0
        assert sent == list(range(case.since + 1, case.since + 1 + len(sent)))
        assert sequencer.last_sent < case.live[0].version - 1


@given(candidates())
def test_a_hole_answered_with_a_snapshot_resumes_contiguously(case: Candidates) -> None:
    """The session's answer to a hole: a reset snapshot at the newest version, restart."""
    sequencer = Sequencer(case.since)
    start = case.since  # where the reader's contiguous view begins
    sent: list[int] = []
    for offer in [*case.backlog, *case.live]:
        verdict = sequencer.offer(offer)
        if verdict is Verdict.HOLE:
            sequencer.restart(offer.version)  # the snapshot holds this version already
            start, sent = offer.version, []
        elif verdict is Verdict.SEND:
            sent.append(offer.version)
    assert sequencer.last_sent == case.n
    assert sent == list(range(start + 1, case.n + 1))
    assert (start == case.since) is case.covered
