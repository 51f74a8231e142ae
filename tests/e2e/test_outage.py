"""A database outage end to end (DESIGN §9): fail fast, recover fast, lose nothing.

The real server on PostgreSQL through a TCP fault proxy: 10 s of reset connections, then
20 s of black-holed ones (``tests/e2e/outage_scenario.py``; one run of about a minute for
the whole module). The only timings asserted are "did not hang" bounds: a hang lasts the
whole outage, a deadline is seconds. The figures (time to 503, /readyz latency, time to
the first write after recovery) come from ``python -m scripts.benchmarks.figures.outage``
and are in docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from tests.databases import libpq_url, with_schema
from tests.e2e.outage_scenario import COLD_STORY, STORY, Answer, Observations, Phase, run_outage

pytestmark = pytest.mark.postgres

DEADLINE = 2.0
# A request makes a few database calls, each bounded by the deadline, while an outage
# lasts 10 or 20 s: a request slower than this waited for the outage.
HANG_BOUND = DEADLINE * 2 + 4.0
READYZ_HANG_BOUND = 1.0 + 2.0
# The server has met the outage by then (its health check runs every 0.25 s, 0.8 s bound).
NOTICED = 1.5


@pytest.fixture(scope="module")
def outage(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observations]:
    schema = f"lb_test_{uuid.uuid4().hex[:16]}"
    conninfo = libpq_url(postgres_url)
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        workdir = tmp_path_factory.mktemp("outage")
        yield asyncio.run(
            run_outage(with_schema(postgres_url, schema), workdir, deadline=DEADLINE)
        )
    finally:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
            drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            conn.execute(drop)


def during(outage: Observations, phase: Phase, kind: str, after: float = 0.0) -> list[Answer]:
    """Answers of ``kind`` asked and answered while the database was cut."""
    return [
        a for a in outage.answers
        if a.kind == kind and phase.cut + after <= a.started
        and a.started + a.seconds < phase.restored
    ]  # fmt: skip


def is_error_shape(answer: Answer, code: str | None = None) -> bool:
    error = answer.body.get("error") if isinstance(answer.body, dict) else None
    return (
        isinstance(error, dict)
        and isinstance(error.get("code"), str)
        and bool(error.get("message"))
        and (code is None or error["code"] == code)
    )


def test_writes_during_the_outage_answer_503_with_retry_after(outage: Observations) -> None:
    for phase in outage.phases:
        writes = during(outage, phase, "write")
        assert writes, phase
        for answer in writes:
            assert answer.status == 503, (phase, answer)
            assert answer.retry_after is not None
            assert is_error_shape(answer), answer


def test_reads_of_the_store_during_the_outage_answer_503(outage: Observations) -> None:
    for phase in outage.phases:
        reads = during(outage, phase, "read")
        assert reads, phase
        for answer in reads:
            assert answer.status == 503, (phase, answer)
            assert answer.retry_after is not None
            assert is_error_shape(answer), answer


def test_no_request_waited_for_the_outage(outage: Observations) -> None:
    for answer in outage.answers:
        bound = READYZ_HANG_BOUND if answer.kind == "readyz" else HANG_BOUND
        assert answer.seconds < bound, answer
        assert answer.status in (200, 201, 304, 503), answer  # never a 500, never no answer


def test_readyz_says_why_it_is_not_ready_during_the_outage_and_is_ready_after(
    outage: Observations,
) -> None:
    for phase in outage.phases:
        probes = during(outage, phase, "readyz", after=NOTICED)
        assert probes, phase
        for answer in probes:
            assert answer.status == 503, (phase, answer)
            assert is_error_shape(answer, "not_ready"), answer
            assert answer.retry_after is not None
        after = [a for a in outage.answers if a.kind == "readyz" and a.started > phase.restored]
        assert any(a.status == 200 for a in after), phase


def test_new_joins_are_served_from_the_cache_or_closed_with_1013(outage: Observations) -> None:
    assert len(outage.joins) == 3 * len(outage.phases)
    for join in outage.joins:
        if join.story == COLD_STORY:
            # Only the store holds its snapshot: closed, with a close frame and a reason.
            assert (join.outcome, join.close_code) == ("closed", 1013), join
            assert join.close_reason == "store unavailable; try again"
        elif join.since is None:
            assert join.outcome == "snapshot", join  # the hub's cached story
        else:
            assert join.outcome == "resumed", join  # from the hub's ring
            assert join.first_version == join.since + 1


def test_a_new_sse_reader_that_needs_the_store_gets_503(outage: Observations) -> None:
    streams = [a for a in outage.answers if a.kind == "sse"]
    assert len(streams) == len(outage.phases)
    for answer in streams:
        assert answer.status == 503, answer
        assert answer.retry_after is not None
        assert is_error_shape(answer), answer


def test_connected_readers_kept_their_sockets_and_ended_exact(outage: Observations) -> None:
    assert outage.readers
    for trace in outage.readers:
        assert trace.closes == []
        first = trace.versions[0]
        assert trace.versions == list(range(first, outage.final_version + 1))


def test_writes_come_back_after_each_outage(outage: Observations) -> None:
    for phase in outage.phases:
        assert any(
            a.kind == "write" and a.status == 201 and a.started >= phase.restored
            for a in outage.answers
        ), phase


def test_nothing_acknowledged_was_lost_or_doubled(outage: Observations) -> None:
    shown = outage.update_ids
    assert len(shown) == len(set(shown))  # no update twice
    assert set(shown) == set(outage.acked.values())  # every acknowledged post, no other
    assert len(outage.acked) == len(set(outage.acked.values()))
    assert outage.final_version == 1 + len(outage.acked)
    assert STORY
