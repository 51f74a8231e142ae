"""Every performance goal of DESIGN §8, each beside its bare baseline, in one table.

    scripts/bench [--quick] [--only NAME[,NAME]] [--markdown FILE] [--keep-logs DIR]

Workloads (``--only`` names):

- ``fan-out``: ``scripts/bench_fanout.py``'s measurement (POST sent → reader received,
  p99) at 5,000 readers, 20 posts 0.5 s apart, against a bare ``websockets.broadcast()``,
  in three paired rounds (the median ratio counts).
- ``capacity``: server RSS per idle reader at 10,000 readers on one story, against a bare
  ``websockets`` server that sends the same snapshot.
- ``join-storm``: 2,000 readers join a story of 300 updates at once (200 handshakes in
  flight) and get their snapshot: joins/s against a bare starlette WebSocket route on
  uvicorn sending the same bytes (and, for reference, a plain ``websockets`` server).
- ``read-api``: ``GET /api/stories/{story}`` on 50 keep-alive connections: requests/s
  against a bare starlette app on uvicorn returning the same bytes; and the 304 path;
  ten paired 1 s rounds, the median ratio counts.
- ``write``: ``POST …/updates`` from 8 reporters on SQLite: posts/s against the
  application's own ``Newsroom.post_update`` + save, in-process; four paired rounds of
  500 posts, the median ratio counts.
- ``rebuild``: ``liveblog.rebuild.rebuild`` of every view over 100,000 events against a
  raw read-and-decode of the same log.
- ``resume``: 1,000 readers reconnect at once up to 1,000 versions behind: database reads
  per reader (from ``/metrics``), each stream checked to be exactly what was missed.
- ``growth``: the cost of a post on a story of 10,000 updates against a fresh one.

``--quick`` runs the same code paths at smaller sizes (under 3 minutes); the full run
takes under 20. Servers and load clients are child processes on 127.0.0.1 that stop by
themselves (bounded counts, deadlines) and are stopped in any case when the run ends. The
machine is shared by the servers, the clients and whoever else is busy on it: compare
figures within one run, and read the CPU notes (a load client near 100 % of a core
measures itself).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shlex
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from scripts import bench_inprocess, bench_workloads
from scripts.bench_fanout import Children, interrupt, loop_factory, raise_nofile, revision
from scripts.bench_support import BenchError, Context, Row, Sizes

Workload = Callable[[Context], list[Row]]

WORKLOADS: dict[str, Workload] = {
    "fan-out": bench_workloads.fan_out,
    "capacity": bench_workloads.capacity,
    "join-storm": bench_workloads.join_storm,
    "read-api": bench_workloads.read_api,
    "write": bench_workloads.write,
    "rebuild": bench_inprocess.rebuild_rows,
    "resume": bench_workloads.resume,
    "growth": bench_inprocess.growth_rows,
}
COLUMNS = ("workload", "project", "baseline", "ratio", "goal", "met")
PACKAGES = ("eventsourcing", "starlette", "uvicorn", "websockets", "uvloop", "httptools", "orjson")


def versions() -> str:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def memory() -> str:
    try:
        line = Path("/proc/meminfo").read_text().split("\n", 1)[0]
    except OSError:
        return "unknown memory"
    return f"{int(line.split()[1]) / 1024**2:.1f} GiB memory"


def machine() -> list[str]:
    return [
        f"date: {datetime.now(UTC):%a %b %d %H:%M:%S UTC %Y}",
        f"machine: {os.cpu_count()} CPUs (nproc), {memory()}, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {platform.platform()}",
        f"python: {platform.python_implementation()} {platform.python_version()}; "
        f"clients and baselines on {'uvloop' if loop_factory() else 'asyncio'}",
        f"packages: {versions()}",
        f"liveblog at {revision()}",
    ]


def cells(row: Row) -> list[str]:
    shown = "—" if row.ratio != row.ratio else f"{row.ratio:.2f}×"  # NaN: no ratio
    return [row.workload, row.project, row.baseline, shown, row.goal, row.verdict]


def text_table(rows: Sequence[Row]) -> str:
    table = [list(COLUMNS), *(cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"- {row.workload}: {note}" for row in rows for note in row.notes]
    return "\n".join([*lines, "", *notes])


def markdown_table(rows: Sequence[Row], header: Sequence[str], command: str) -> str:
    lines = [f"- {line}" for line in header]
    lines += [f"- command: `{command}`", "", "| " + " | ".join(COLUMNS) + " |"]
    lines.append("|---|---:|---:|---:|---|---|")
    for row in rows:
        values = cells(row)
        values[-1] = f"**{values[-1]}**" if row.met is False else values[-1]
        lines.append("| " + " | ".join(v.replace("|", "\\|") for v in values) + " |")
    lines.append("")
    lines += [f"- {row.workload}: {note}" for row in rows for note in row.notes]
    return "\n".join(lines) + "\n"


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
    parser.add_argument("--quick", action="store_true", help="smaller sizes, same code paths")
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
        (target / log.name).write_bytes(log.read_bytes())


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
