"""Every performance goal of DESIGN §8, each beside its bare baseline, in one table.

    scripts/bench [--quick] [--only NAME[,NAME]] [--markdown FILE] [--keep-logs DIR]

Workloads (``--only`` names; each is a module of this package, its docstring says how):

- ``fan-out``: POST sent → reader received, p99, at 5,000 readers, 20 posts 0.5 s apart,
  against a bare ``websockets.broadcast()``, in five rounds in turns (median ratio).
- ``capacity``: server RSS per idle reader at 10,000 readers on one story.
- ``join-storm``: 2,000 readers join a story of 300 updates at once: joins/s against a
  bare starlette WebSocket route on uvicorn sending the same bytes.
- ``read-api``: ``GET /api/stories/{story}`` on 50 keep-alive connections against bare
  starlette returning the same bytes; and the 304 path (ten rounds, median ratio).
- ``write``: ``POST …/updates`` from 8 reporters on SQLite against the application's own
  ``Newsroom.post_update`` in-process (four rounds, median ratio).
- ``rebuild``: every view over 100,000 events against a raw read-and-decode of the log.
- ``resume``: 1,000 readers reconnect at once up to 1,000 versions behind: database reads
  per reader, each stream checked.
- ``growth``: the cost of a post on a story of 10,000 updates against a fresh one.

``--quick`` runs the same code paths at small sizes, in about a minute: a smoke test (CI
runs it); its figures say nothing about the goals. The full run takes about 7 minutes.
Servers and load clients are child processes on 127.0.0.1 that stop by themselves
(bounded counts, deadlines) and are stopped in any case when the run ends. The machine
is shared by the servers, the clients and whoever else is busy on it: compare figures
within one run, and read the CPU notes (a load client near 100 % of a core measures
itself). The exit code is 1 when a workload could not be measured, whatever the goals.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from scripts.benchmarks import (
    capacity,
    fanout,
    growth,
    join_storm,
    read_api,
    reader_page,
    rebuild,
    resume,
    write,
)
from scripts.benchmarks.common import BenchError, Children, interrupt, raise_nofile
from scripts.benchmarks.report import machine, markdown_table, text_table
from scripts.benchmarks.workload import Context, Row, Sizes

Workload = Callable[[Context], list[Row]]

WORKLOADS: dict[str, Workload] = {
    "fan-out": fanout.run,
    "capacity": capacity.run,
    "join-storm": join_storm.run,
    "read-api": read_api.run,
    "reader-page": reader_page.run,
    "write": write.run,
    "rebuild": rebuild.run,
    "resume": resume.run,
    "growth": growth.run,
}


def run_one(name: str, workload: Workload, ctx: Context) -> list[Row]:
    print(f"\n== {name}", flush=True)
    started = time.monotonic()
    try:
        rows = workload(ctx)
    except (BenchError, OSError, RuntimeError, TimeoutError, ValueError, KeyError) as error:
        traceback.print_exc()
        rows = [Row(name, notes=[f"FAILED: {type(error).__name__}: {error}"[:500]])]
    finally:
        ctx.children.stop_all()
    took = time.monotonic() - started
    rows[0].notes.append(f"workload took {took:.0f} s")
    for row in rows:
        print(f"   {row.workload}: {row.project} vs {row.baseline} → met: {row.verdict}")
    return rows


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, same code paths")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(WORKLOADS)}")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table here")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy servers' and clients' logs here")
    return parser.parse_args(argv)


def selected(only: str | None) -> list[str]:
    if not only:
        return list(WORKLOADS)
    names = [name.strip() for name in only.split(",") if name.strip()]
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown:
        raise SystemExit(f"unknown workload(s) {unknown}; choose from {', '.join(WORKLOADS)}")
    return names


def keep_logs(work: Path, keep: str | None) -> None:
    if keep is None:
        return
    target = Path(keep)
    target.mkdir(parents=True, exist_ok=True)
    for log in work.rglob("*.log"):
        (target / "-".join(log.relative_to(work).parts)).write_bytes(log.read_bytes())


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(given)
    names = selected(args.only)
    signal.signal(signal.SIGTERM, interrupt)  # so the children are stopped then too
    raise_nofile(20_000)  # servers and clients started from here inherit it
    header = machine()
    command = shlex.join(["scripts/bench", *given])
    print("\n".join(header), flush=True)
    sizes = Sizes.quick() if args.quick else Sizes.full()
    children = Children()
    rows: list[Row] = []
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-") as folder:
            ctx = Context(sizes, children, Path(folder))
            for name in names:
                rows += run_one(name, WORKLOADS[name], ctx)
            keep_logs(Path(folder), args.keep_logs)
    except KeyboardInterrupt:
        print("\ninterrupted; every process this run started has been stopped", file=sys.stderr)
        return 130
    finally:
        children.stop_all()
    header.append(f"run took {time.monotonic() - started:.0f} s")
    print(f"\n{header[-1]}\n\n{text_table(rows)}", flush=True)
    if args.markdown:
        Path(args.markdown).write_text(markdown_table(rows, header, command))
        print(f"\nwrote {args.markdown}")
    return 1 if any(row.met is None for row in rows) else 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
