"""Fan-out (DESIGN §8): the workload of ``scripts/bench``, and the same measurement alone.

    python -m scripts.benchmarks.fanout [--readers 2000,5000] [--rounds 5] [--posts 20]
        [--interval 0.5] [--batch 200] [--ws IMPL] [--trace] [--keep-logs DIR] [--quick]

How a round measures is in ``scripts.benchmarks.fanout_runs``. The goal (p99 ≤ 1.2 × the
bare broadcast) is judged on the median of the rounds' p99 ratios: twenty posts make a
p99 of one or two posts, and this machine's speed drifts within seconds, so one pair of
runs compares the drift as much as the servers (single rounds of the same code ranged
from 1.00× to 1.54×). ``--trace`` runs both servers under ``scripts.benchmarks.trace``:
each round's table then says where a post's time went and which GC pauses fell in it.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import platform
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from scripts.benchmarks import fanout_report as report
from scripts.benchmarks.common import (
    Children,
    interrupt,
    loop_factory,
    num,
    percentile,
    raise_nofile,
)
from scripts.benchmarks.fanout_runs import Options, Pair, rounds
from scripts.benchmarks.workload import Context, Row

GOAL = 1.2  # DESIGN §8: p99 ≤ 1.2 × bare broadcast
INTERVAL = 0.5


def run(ctx: Context) -> list[Row]:
    """The workload of ``scripts/bench``: its sizes, its rounds, one row."""
    sizes = ctx.sizes
    options = Options(sizes.fanout_posts, INTERVAL, sizes.handshakes, ctx.folder("fan-out"),
                      ctx.children)  # fmt: skip

    def show(pair: Pair) -> None:
        print(report.table(*pair, options), flush=True)

    pairs = rounds(sizes.fanout_readers, options, sizes.fanout_rounds, show)
    return [row(pairs, options)]


def row(pairs: Sequence[Pair], options: Options) -> Row:
    shares = report.p99_ratios(pairs)
    share = report.median(shares)
    readers = pairs[0][0].readers
    complete = all(run.complete for pair in pairs for run in pair)
    result = Row(
        f"fan-out p99, {readers:,} readers",
        f"{num(report.median([p.percentile(99) for p, _ in pairs]), 1)} ms",
        f"{num(report.median([b.percentile(99) for _, b in pairs]), 1)} ms", share,
        f"≤ {GOAL:g}× (median of {len(pairs)} rounds)",
        None if math.isnan(share) else share <= GOAL and complete,
    )  # fmt: skip
    result.notes.append(
        f"{len(pairs)} rounds of {options.posts} posts {options.interval:g} s apart per side, "
        "in turns; p99 ratio per round: " + ", ".join(num(x, 2) for x in shares)
        + "; p99 ms per round (project/baseline): "
        + ", ".join(f"{num(p.percentile(99), 1)}/{num(b.percentile(99), 1)}" for p, b in pairs)
    )  # fmt: skip
    result.notes.append(
        "per round, p50 ms (project/baseline): "
        + ", ".join(f"{num(p.percentile(50), 1)}/{num(b.percentile(50), 1)}" for p, b in pairs)
        + "; first reader p50 ms (the project's write path): "
        + ", ".join(num(percentile(p.first_ms, 50), 1) for p, _ in pairs)
    )
    project, baseline = pairs[-1]
    result.notes.append(
        f"last round: received {project.received:,}/{project.expected:,} vs "
        f"{baseline.received:,}/{baseline.expected:,}; server CPU {num(project.usage.server)} "
        f"% vs {num(baseline.usage.server)} %, client CPU {num(project.usage.client)} % / "
        f"{num(baseline.usage.client)} %, box busy {num(project.usage.machine)} % / "
        f"{num(baseline.usage.machine)} % of all cores"
    )
    for pair in pairs:
        for one in pair:
            if one.failure:
                result.notes.append(f"{one.target} FAILED: {one.failure}")
    return result


# -- alone, at several reader counts ------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.benchmarks.fanout",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--readers", default="2000,5000", help="comma-separated counts")
    parser.add_argument("--rounds", type=int, default=5, help="project/baseline pairs, in turns")
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--interval", type=float, default=INTERVAL, help="seconds between posts")
    parser.add_argument("--batch", type=int, default=200, help="readers connecting at once")
    parser.add_argument("--ws", help="passed to liveblog serve --ws (default: its own)")
    parser.add_argument("--trace", action="store_true",
                        help="stamp both servers' GC pauses and the project's stages")  # fmt: skip
    parser.add_argument("--keep-logs", metavar="DIR", help="copy logs and traces here")
    parser.add_argument("--quick", action="store_true", help="200 readers, 5 posts, 1 round")
    return parser.parse_args(argv)


def measure_counts(args: argparse.Namespace, work: Path, children: Children) -> list[Row]:
    counts = [200] if args.quick else [int(c) for c in args.readers.split(",") if c.strip()]
    posts, count = (5, 1) if args.quick else (args.posts, args.rounds)
    found = []
    for readers in counts:
        options = Options(posts, args.interval, args.batch, work / f"readers-{readers}",
                          children, args.ws, args.trace)  # fmt: skip
        options.work.mkdir(parents=True)

        def show(pair: Pair, options: Options = options) -> None:
            print("\n" + report.table(*pair, options), flush=True)

        pairs = rounds(readers, options, count, show)
        print("\n" + report.markdown(pairs), flush=True)
        found.append(row(pairs, options))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, interrupt)  # so the children are stopped then too
    raise_nofile(20_000)  # servers and clients started from here inherit it
    loop = "uvloop" if loop_factory() is not None else "asyncio"
    print(f"fan-out: readers {args.readers}, {args.rounds} rounds; "
          f"{platform.python_implementation()} {platform.python_version()}; "
          f"client and baseline on {loop}", flush=True)  # fmt: skip
    children = Children()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-fanout-") as folder:
            try:
                found = measure_counts(args, Path(folder), children)
            finally:
                if args.keep_logs:
                    keep = Path(args.keep_logs)
                    keep.mkdir(parents=True, exist_ok=True)
                    for log in Path(folder).rglob("*.log"):
                        name = "-".join(log.relative_to(folder).parts)
                        (keep / name).write_bytes(log.read_bytes())
    except KeyboardInterrupt:
        print("\ninterrupted; every process this run started has been stopped", file=sys.stderr)
        return 130
    finally:
        children.stop_all()
    for one in found:
        print(f"\n{one.workload}: {one.project} vs {one.baseline}, ratio {num(one.ratio, 2)}×,"
              f" goal {one.goal}: met {one.verdict}")  # fmt: skip
        print("\n".join(f"- {note}" for note in one.notes))
    return 1 if any(one.met is None for one in found) else 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
