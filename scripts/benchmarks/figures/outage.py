"""Figures of a database outage: how fast liveblog fails, and how fast it comes back.

Runs the end-to-end outage scenario of ``tests/e2e/outage_scenario.py`` (the real server
on PostgreSQL through a TCP fault proxy: connections reset, then black-holed) in a schema
of its own, and prints, per outage: the time from the cut to the first 503 and how long
503s took, /readyz's latency and its time to say "not ready", and the time from the
database's return to the first successful write and to "ready". The test
(``tests/e2e/test_outage.py``) asserts on the same scenario; this only measures.

    python -m scripts.benchmarks.figures.outage [--deadline 2] [--reset 10] [--blackhole 20]

Talks only to 127.0.0.1; about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from tests.databases import libpq_url, with_schema
from tests.e2e.outage_scenario import Answer, Observations, Phase, run_outage

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", default=os.environ.get("LIVEBLOG_TEST_POSTGRES_URL"))
    parser.add_argument("--deadline", type=float, default=2.0, help="LIVEBLOG_DB_DEADLINE_SECONDS")
    parser.add_argument("--reset", type=float, default=10.0, help="seconds of reset connections")
    parser.add_argument("--blackhole", type=float, default=20.0, help="seconds of black hole")
    args = parser.parse_args()
    url = args.postgres_url or DEFAULT_URL
    schema = f"lb_figures_{uuid.uuid4().hex[:12]}"
    conninfo = libpq_url(url)
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        with tempfile.TemporaryDirectory() as workdir:
            seen = asyncio.run(
                run_outage(
                    with_schema(url, schema), Path(workdir), deadline=args.deadline,
                    reset_seconds=args.reset, blackhole_seconds=args.blackhole,
                )
            )  # fmt: skip
    finally:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    report(seen, args)


def report(seen: Observations, args: argparse.Namespace) -> None:
    print(f"# outage figures, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"# {platform.node()}: {platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, {platform.platform()}")  # fmt: skip
    print(
        f"# deadline {args.deadline:g} s; reset {args.reset:g} s, black hole {args.blackhole:g} s"
    )
    for phase in seen.phases:
        print(f"\n{phase.mode} ({phase.restored - phase.cut:.1f} s)")
        writes = in_outage(seen, phase, "write")
        reads = in_outage(seen, phase, "read")
        probes = in_outage(seen, phase, "readyz")
        first_503 = [a for a in writes if a.status == 503]
        if first_503:
            print(f"  cut → first write answered 503: {ends(first_503[0]) - phase.cut:.2f} s")
        print(f"  writes in the outage: {len(writes)}, {spread(writes)}; statuses "
              f"{sorted({a.status for a in writes})}")  # fmt: skip
        print(f"  reads in the outage: {len(reads)}, {spread(reads)}; statuses "
              f"{sorted({a.status for a in reads})}")  # fmt: skip
        not_ready = [a for a in probes if a.status == 503]
        if not_ready:
            print(f"  cut → /readyz answered 503: {ends(not_ready[0]) - phase.cut:.2f} s")
        print(f"  /readyz in the outage: {len(probes)}, {spread(probes)}")
        written = after(seen, phase, "write", 201)
        if written:
            print(f"  return → first write answered 201: {ends(written[0]) - phase.restored:.2f} s"
                  f" (that request took {written[0].seconds:.2f} s)")  # fmt: skip
        ready = after(seen, phase, "readyz", 200)
        if ready:
            print(f"  return → /readyz answered 200: {ends(ready[0]) - phase.restored:.2f} s")
        for join in (j for j in seen.joins if j.phase == phase.mode):
            closed = f" {join.close_code} {join.close_reason!r}" if join.close_code else ""
            print(f"  join {join.story} since={join.since}: {join.outcome}{closed}")
    exact = all(
        not t.closes and t.versions == list(range(t.versions[0], seen.final_version + 1))
        for t in seen.readers
    )
    print(f"\nreaders: {len(seen.readers)}, closed: {sum(len(t.closes) for t in seen.readers)},"
          f" every one exact to version {seen.final_version}: {exact}")  # fmt: skip
    doubled = len(seen.update_ids) - len(set(seen.update_ids))
    lost = len(set(seen.acked.values()) - set(seen.update_ids))
    print(f"posts acknowledged: {len(seen.acked)}, lost: {lost}, doubled: {doubled}")
    slowest = max(seen.answers, key=lambda a: a.seconds)
    print(f"slowest request: {slowest.kind} {slowest.status} in {slowest.seconds:.2f} s")


def in_outage(seen: Observations, phase: Phase, kind: str) -> list[Answer]:
    return [a for a in seen.answers
            if a.kind == kind and phase.cut <= a.started and ends(a) < phase.restored]  # fmt: skip


def after(seen: Observations, phase: Phase, kind: str, status: int) -> list[Answer]:
    """Answers of ``kind`` with ``status`` that came after the database's return."""
    return [
        a for a in seen.answers
        if a.kind == kind and a.status == status and ends(a) > phase.restored
    ]  # fmt: skip


def ends(answer: Answer) -> float:
    return answer.started + answer.seconds


def spread(answers: list[Answer]) -> str:
    if not answers:
        return "none"
    times = [a.seconds for a in answers]
    return f"median {statistics.median(times):.3f} s, max {max(times):.3f} s"


if __name__ == "__main__":
    main()
