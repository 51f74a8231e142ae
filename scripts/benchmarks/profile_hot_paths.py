"""Profile the hot path of a goal not met, with py-spy, and print where the time goes.

    python -m scripts.benchmarks.profile_hot_paths write   [--posts 3000] [--py-spy PATH]
    python -m scripts.benchmarks.profile_hot_paths rebuild [--stories 100] [--py-spy PATH]

- ``write``: a ``liveblog serve`` on a fresh SQLite file, as ``scripts/bench`` starts it,
  while 8 reporters (the bench's own load client) post; py-spy samples the server, only
  when it holds the GIL (``--gil``).
- ``rebuild``: ``liveblog.rebuild.rebuild`` of a log seeded as the bench seeds it
  (``--stories`` × 1,000 events), in a child process sampled with ``--threads`` and
  ``--subprocesses`` (the rebuild's writer process is listed on its own).

py-spy is not a dependency of the project: install it anywhere (``python3 -m venv
/tmp/pyspy && /tmp/pyspy/bin/pip install py-spy``) and pass ``--py-spy``. Profiling
needs ptrace rights (root here, or ``kernel.yama.ptrace_scope`` = 0). The raw samples
are kept in ``--out`` (collapsed stacks, for flamegraph tools); the summary lists the
share of samples that passed through each function, per thread.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from scripts.benchmarks.children import run_clients
from scripts.benchmarks.common import ROOT, Children, Spy
from scripts.benchmarks.fanout import INTERVAL
from scripts.benchmarks.fanout_runs import Options, run_project
from scripts.benchmarks.inprocess import newsroom_on, seed_story
from scripts.benchmarks.servers import start_project

REPORTERS = 8
# Frames every sample of a thread passes through: not worth a line.
ROOTS = frozenset({
    "<module>", "_run_code", "_run_module_as_main", "main", "_serve", "Server.run",
    "asyncio_run", "Runner.run", "Thread._bootstrap", "Thread._bootstrap_inner",
    "Thread.run", "_worker", "rebuild", "_find_and_load", "_load_unlocked",
    "_find_and_load_unlocked", "_call_with_frames_removed", "_LoaderBasics.exec_module",
})  # fmt: skip


def profile_write(py_spy: str, out: Path, posts: int) -> None:
    children = Children()
    with tempfile.TemporaryDirectory(prefix="profile-write-") as folder:
        project = start_project(children, Path(folder), "profile-write", REPORTERS)
        try:
            story_id = project.open_story("profile-write")
            project.seed(children, story_id, REPORTERS)  # one warm-up post each
            spy = Spy(py_spy, project.pid, out, gil=True)
            client = project.post_client(children, story_id, posts, "w", first_seq=REPORTERS)
            (results,) = run_clients([client], project.pid)
            spy.stop()
            print(
                f"{posts:,} posts at {results['rate']:,.0f} posts/s under the profiler "
                f"(p50 {results['p50_ms']:.1f} ms); statuses {results['statuses']}"
            )
        finally:
            project.close()
            children.stop_all()


def profile_fanout(py_spy: str, out: Path, readers: int, posts: int) -> None:
    """The project's server while ``readers`` readers get ``posts`` posts, 0.5 s apart."""
    children = Children()
    with tempfile.TemporaryDirectory(prefix="profile-fanout-") as folder:
        options = Options(posts, INTERVAL, 200, Path(folder), children, py_spy=py_spy)
        try:
            run = run_project(readers, options)
        finally:
            children.stop_all()
        if run.failure:
            raise SystemExit(f"the fan-out run failed: {run.failure}")
        print(f"{readers:,} readers, {posts} posts under the profiler: p50 "
              f"{run.percentile(50):.1f} ms, p99 {run.percentile(99):.1f} ms")  # fmt: skip
        (Path(folder) / f"profile-project-{readers}.txt").replace(out)


def profile_rebuild(py_spy: str, out: Path, stories: int) -> None:
    with tempfile.TemporaryDirectory(prefix="profile-rebuild-") as folder:
        database = Path(folder) / "rebuild.sqlite3"
        with newsroom_on(database) as newsroom:
            for index in range(stories):
                seed_story(newsroom, f"profile-rebuild-{index}", 999)
        program = (
            "import sys, time\n"
            "from liveblog.bootstrap import build_views\n"
            "from liveblog.rebuild import rebuild\n"
            "from scripts.benchmarks.inprocess import newsroom_on\n"
            "from pathlib import Path\n"
            "with newsroom_on(Path(sys.argv[1])) as newsroom:\n"
            "    result = rebuild(newsroom, build_views(newsroom))\n"
            "print(f'{result.events:,} events in {result.seconds:.2f} s')\n"
        )
        # A file, not ``-c``: py-spy names each process by its command line, and the
        # program's newlines would split its raw output's lines.
        script = Path(folder) / "rebuild_once.py"
        script.write_text(program)
        subprocess.run(
            [py_spy, "record", "--threads", "--subprocesses", "--rate", "250", "--format", "raw",
             "--output", str(out), "--", sys.executable, str(script), str(database)],
            check=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip


def summary(raw: Path, top: int) -> str:
    """Per thread (and per child process): the share of its samples that passed through
    each function."""
    per_thread: collections.Counter[str] = collections.Counter()
    through: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in raw.read_text().splitlines():
        stack, _, counted = line.rpartition(" ")
        frames = stack.split(";")
        # With --subprocesses every stack starts with its process; a child's with its
        # parent's too. The thread is the first frame that names one.
        processes = [f for f in frames if f.startswith("process ")]
        threads = [f for f in frames if f.startswith("thread")]
        where = processes[-1][:60] if len(processes) > 1 else ""
        thread = f"{where} {threads[0]}".strip() if threads else "(all threads)"
        samples = int(counted)
        per_thread[thread] += samples
        named = [f for f in frames if not f.startswith(("process ", "thread"))]
        for name in {frame.split(" (")[0] for frame in named}:
            through[thread][name] += samples
    lines = []
    for thread, total in per_thread.most_common():
        if total < per_thread.total() * 0.05:
            continue  # threads that hardly ran
        lines.append(f"\n{thread}: {total:,} samples")
        shown = 0
        for name, count in through[thread].most_common():
            if name in ROOTS:
                continue  # the interpreter's, the server's and threads' entry points
            lines.append(f"  {100 * count / total:5.1f} %  {name}")
            shown += 1
            if shown == top:
                break
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("path", choices=["write", "fanout", "rebuild"])
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy executable")
    parser.add_argument("--out", type=Path, help="where to keep the raw samples")
    parser.add_argument("--posts", type=int, default=3_000)
    parser.add_argument("--stories", type=int, default=100)
    parser.add_argument("--readers", type=int, default=5_000, help="fanout: readers")
    parser.add_argument("--top", type=int, default=40, help="functions listed per thread")
    args = parser.parse_args(argv)
    out: Path = args.out or Path(tempfile.gettempdir()) / f"profile-{args.path}.txt"
    if args.path == "write":
        profile_write(args.py_spy, out, args.posts)
    elif args.path == "fanout":
        profile_fanout(args.py_spy, out, args.readers, min(args.posts, 40))
    else:
        profile_rebuild(args.py_spy, out, args.stories)
    print(summary(out, args.top))
    print(f"\nraw samples: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
