"""The fan-out's figures: a table per round, where a post's time went, and a Markdown table.

Where a post's time went comes from a traced run's stamps (``scripts.benchmarks.trace``):
for each post, the first stamp of each stage after it was sent, in ms after the send.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path

from scripts.benchmarks.common import num, percentile, ratio
from scripts.benchmarks.fanout_runs import Options, Pair, Run

LEGEND = (
    "(first / spread: p50 over posts of the first reader's latency and of last − first,"
    " ms;\n req ms: p50 round trip of the POST or the trigger; ready s: connecting all;"
    "\n CPU: % of one core from the first send to the last message; box: busy % of all"
    " cores, anyone's)"
)
# A post's way through a traced server, in order: (label, stamp). ``saved``: the store's
# save woke the feed; ``batch``/``views``: the feed's batch and its views write, on the
# feed's thread; ``frames``: the hub given the applied events; ``publish``: the hub's
# write to every reader, on the event loop (the baseline's broadcast() call).
STAGES = (
    ("saved", "saved+"), ("feed woke", "batch+"), ("views written", "views-"),
    ("frames handed over", "frames+"), ("publish began", "publish+"),
    ("publish ended", "publish-"),
)  # fmt: skip


# A round's columns: (heading, width in the text table, the run's figure).
COLUMNS = ("target", "p50 ms", "p99 ms", "max ms", "received/expected", "first", "spread",
           "req ms", "ready s", "srv CPU", "cli CPU", "box")  # fmt: skip
WIDTHS = (9, 8, 8, 8, 24, 6, 6, 7, 7, 7, 7, 5)


def figures(run: Run) -> list[str]:
    """One run's cells, in the order of ``COLUMNS``."""
    share = 100 * run.received / run.expected if run.expected else math.nan
    return [
        run.target, num(run.percentile(50), 1), num(run.percentile(99), 1),
        num(run.percentile(100), 1), f"{run.received:,}/{run.expected:,} ({share:.1f}%)",
        num(percentile(run.first_ms, 50), 1), num(percentile(run.spread_ms, 50), 1),
        num(percentile(run.request_ms, 50), 1), num(run.ready_seconds, 1),
        f"{num(run.usage.server)}%", f"{num(run.usage.client)}%", f"{num(run.usage.machine)}%",
    ]  # fmt: skip


def ratios(project: Run, baseline: Run) -> tuple[str, str]:
    """The p50 and p99 ratios, project over baseline."""
    p50 = ratio(project.percentile(50), baseline.percentile(50))
    p99 = ratio(project.percentile(99), baseline.percentile(99))
    return f"{num(p50, 2)}×", f"{num(p99, 2)}×"


def table(project: Run, baseline: Run, options: Options) -> str:
    head = (
        f"{project.readers:,} readers, {options.posts} posts {options.interval:g} s apart, "
        f"frame {project.frame_bytes or baseline.frame_bytes} B"
    )

    def line(cells: Sequence[str]) -> str:
        return " ".join(
            cell.ljust(width) if index in (0, 4) else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, WIDTHS, strict=False))
        ).rstrip()

    rows = [line(COLUMNS), line(figures(project)), line(figures(baseline))]
    rows.append(line(["ratio", *ratios(project, baseline)]))
    return "\n".join([head, *rows, LEGEND, *notes(project, baseline, options)])


def notes(project: Run, baseline: Run, options: Options) -> list[str]:
    found = []
    for run in (project, baseline):
        if run.trace is not None:
            found.append(f"{run.target}: {where_time_went(run)}")
            found.append(f"{run.target}: {gc_summary(run)}")
        if run.lateness_ms > options.interval * 1000 / 2:
            found.append(f"{run.target}: a send was {run.lateness_ms:.0f} ms behind schedule")
        if run.failure:
            found.append(f"{run.target}: FAILED: {run.failure}")
        if run.received < run.expected:
            found.append(f"{run.target}: LOSS: {run.expected - run.received} messages missing")
        if run.duplicates:
            found.append(f"{run.target}: {run.duplicates} duplicate messages")
        if run.closed:
            found.append(f"{run.target}: connections closed early, by code: {run.closed}")
        if run.errors:
            found.append(f"{run.target}: reader errors: {run.errors}")
    return found


def markdown(pairs: Sequence[Pair]) -> str:
    """Every round's runs and ratios, as a Markdown table."""
    lines = [
        "| round | readers | " + " | ".join(COLUMNS) + " |",
        "|---:|---:|---|" + "---:|" * 3 + "---|" + "---:|" * 7,
    ]
    for index, (project, baseline) in enumerate(pairs, 1):
        for run in (project, baseline):
            lines.append(f"| {index} | {run.readers:,} | " + " | ".join(figures(run)) + " |")
        p50, p99 = ratios(project, baseline)
        empty = " |" * (len(COLUMNS) - 3)
        lines.append(f"| {index} | {project.readers:,} | **ratio** | **{p50}** | **{p99}** |"
                     + empty)  # fmt: skip
    return "\n".join(lines)


def p99_ratios(pairs: Sequence[Pair]) -> list[float]:
    return [ratio(p.percentile(99), b.percentile(99)) for p, b in pairs]


def median(values: Sequence[float]) -> float:
    known = [v for v in values if not math.isnan(v)]
    return statistics.median(known) if known else math.nan


# -- a traced run -------------------------------------------------------------------------------


def stamps(path: Path | None) -> list[tuple[str, int, str]]:
    """A trace's lines: (what, monotonic ns, value)."""
    if path is None or not path.exists():
        return []
    found = []
    for line in path.read_text().splitlines():
        what, at, value = [*line.split(" ", 2), ""][:3]
        found.append((what, int(at), value))
    return found


def stage_times(run: Run) -> dict[str, list[float]]:
    """Per stage, for each post: ms from its send to the stage's first stamp after it."""
    found = stamps(run.trace)
    times: dict[str, list[float]] = {label: [] for label, _ in STAGES}
    for index, sent in enumerate(run.sent):
        end = run.sent[index + 1] if index + 1 < len(run.sent) else run.window[1]
        since = sent
        for label, what in STAGES:
            at = next((t for w, t, _ in found if w == what and since <= t < end), None)
            if at is not None:
                times[label].append((at - sent) / 1e6)
                since = at
    return {label: values for label, values in times.items() if values}


def where_time_went(run: Run) -> str:
    """The stages' median (and slowest) ms after the send, then the readers'."""
    times = stage_times(run)
    times["first reader"] = run.first_ms
    times["last reader"] = run.last_ms
    parts = [
        f"{label} {num(median(values), 1)} ({num(max(values), 1)})"
        for label, values in times.items()
    ]
    return "ms after the send, median (slowest) of posts: " + "; ".join(parts)


def gc_summary(run: Run) -> str:
    """The server's GC pauses of 1 ms or more between the first send and the last message."""
    start, end = run.window
    pauses = []
    for what, at, value in stamps(run.trace):
        if what == "gc" and start <= at <= end + 1_000_000:
            generation, took = value.split(".", 1)
            pauses.append((int(generation), float(took)))
    full = [took for generation, took in pauses if generation == 2]
    young = [took for generation, took in pauses if generation < 2]
    return (
        f"GC pauses ≥ 1 ms in the measured window: {len(full)} full "
        f"({', '.join(f'{t:.0f}' for t in full) or '-'} ms), {len(young)} young "
        f"({sum(young):.0f} ms in all, longest {max(young, default=0):.0f} ms)"
    )
