"""The summary of a ``scripts/bench`` run: the machine it ran on, and the table of rows."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from scripts.benchmarks.common import loop_factory, revision
from scripts.benchmarks.workload import Row

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
