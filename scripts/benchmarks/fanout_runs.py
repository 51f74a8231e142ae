"""Fan-out (DESIGN §8): POST sent → reader received, the project beside a bare broadcast.

One measured run connects N readers to a server, then the driver sends P posts
``interval`` apart, stamping each with ``time.monotonic_ns()`` (one clock for every
process on Linux) just before it sends it; readers stamp every message as it arrives;
latency = received − sent. The two servers, each in its own process:

- project: ``liveblog serve`` on a fresh SQLite file, one story opened through the API;
  a post is ``POST /api/stories/{id}/updates`` on a keep-alive connection;
- baseline: ``scripts.benchmarks.baselines broadcast``, a bare ``websockets`` server
  that calls ``broadcast()`` with the project's own frame bytes when its control
  WebSocket asks (control sent → received).

The same load client (``scripts.benchmarks.fanout_readers``) measures both. A round is
one run of each, in an order that turns every round, each with a fresh store and fresh
readers; the goal is judged on the median of the rounds' p99 ratios, and every round's
figures are printed. With ``trace``, both servers stamp their GC pauses and the project
its write path's stages (``scripts.benchmarks.trace``), and the tables say where each
post's time went.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as sync_connect

from scripts.benchmarks.common import (
    HOST,
    ROOT,
    Children,
    Lines,
    Meter,
    Spy,
    body_for,
    percentile,
)
from scripts.benchmarks.servers import REQUEST_TIMEOUT, live_url, start_baseline, start_project

SETTLE_SECONDS = 30.0  # after the last post, how long to wait for stragglers
RESULTS_TIMEOUT = 120.0  # the client writing its results
BATCH_TIMEOUT = 120.0  # the client connecting one batch of readers


@dataclass
class Usage:
    """CPU used during the measured window, in % of one core (machine: % of all cores)."""

    server: float = math.nan
    client: float = math.nan
    machine: float = math.nan


@dataclass
class Run:
    target: str
    readers: int
    posts: int
    latencies_ms: list[float] = field(default_factory=list)
    received: int = 0
    duplicates: int = 0
    frame_bytes: int = 0
    ready_seconds: float = math.nan
    lateness_ms: float = 0.0
    request_ms: list[float] = field(default_factory=list)  # the POST / trigger round trips
    sent: list[int] = field(default_factory=list)  # monotonic ns, per post
    # Per post: its first and last reader's latency (ms after it was sent).
    first_ms: list[float] = field(default_factory=list)
    last_ms: list[float] = field(default_factory=list)
    window: tuple[int, int] = (0, 0)  # monotonic ns: first send .. all received
    trace: Path | None = None  # the server's stamps, when traced
    usage: Usage = field(default_factory=Usage)
    closed: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    sample: str | None = None
    failure: str | None = None

    @property
    def expected(self) -> int:
        return self.readers * self.posts

    @property
    def complete(self) -> bool:
        return self.failure is None and self.received == self.expected and not self.duplicates

    @property
    def spread_ms(self) -> list[float]:
        return [last - first for first, last in zip(self.first_ms, self.last_ms, strict=True)]

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_ms, p)


@dataclass
class Options:
    posts: int
    interval: float
    batch: int
    work: Path
    children: Children
    ws: str | None = None  # liveblog serve --ws, when given
    trace: bool = False
    py_spy: str | None = None  # profile the project's server while the posts go out


def measure(
    run: Run,
    options: Options,
    server: subprocess.Popen[Any],
    url: str,
    *,
    first: int,
    send: Callable[[int], None],
    before: Callable[[], None] = lambda: None,
) -> Run:
    """Connect the readers to ``url``, send the posts with ``send``, collect the latencies."""
    name = f"{run.target}-{run.readers}"
    out = options.work / f"{name}.json"
    deadline = (
        3 * BATCH_TIMEOUT
        + run.readers / max(1, options.batch) * 10
        + options.posts * options.interval * 4
        + SETTLE_SECONDS
    )
    with (options.work / f"client-{name}.log").open("wb") as stderr:
        client: subprocess.Popen[str] = options.children.spawn(
            [
                sys.executable, "-m", "scripts.benchmarks.fanout_readers", "--url", url,
                "--readers", str(run.readers), "--posts", str(options.posts),
                "--first", str(first), "--batch", str(options.batch),
                "--out", str(out), "--deadline", f"{deadline:.0f}",
            ],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip
    lines = Lines(client)
    try:
        ready = lines.expect(["READY"], deadline)
        run.ready_seconds = float(ready.split()[2])
        before()
        meters = Meter(server.pid), Meter(client.pid)
        drive(send, options, run)
        with contextlib.suppress(TimeoutError):  # losses are counted below
            lines.expect(["COMPLETE"], SETTLE_SECONDS)
        server_cpu, client_cpu = (meter.stop() for meter in meters)
        run.usage = Usage(server_cpu.process, client_cpu.process, server_cpu.machine)
        run.window = (run.sent[0], time.monotonic_ns())
        assert client.stdin is not None
        client.stdin.write("STOP\n")
        client.stdin.flush()
        lines.expect(["DONE"], RESULTS_TIMEOUT)
        collect(run, json.loads(out.read_text()))
    finally:
        Children.stop(client)
    return run


def drive(send: Callable[[int], None], options: Options, run: Run) -> None:
    """Send the posts on an absolute schedule; the stamp is taken just before each send."""
    start = time.monotonic() + 0.2
    for seq in range(options.posts):
        due = start + seq * options.interval
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # the schedule: posts `interval` apart
        run.lateness_ms = max(run.lateness_ms, (time.monotonic() - due) * 1000)
        stamp = time.monotonic_ns()
        run.sent.append(stamp)
        send(seq)
        run.request_ms.append((time.monotonic_ns() - stamp) / 1e6)


def collect(run: Run, results: dict[str, Any]) -> None:
    run.closed = results["closed"]
    run.errors = results["errors"]
    run.sample = results["sample"]
    sizes: Counter[int] = Counter()
    per_post: list[list[float]] = [[] for _ in run.sent]
    for rows in results["received"]:
        seen: set[int] = set()
        for seq, stamp, size in rows:
            if seq >= len(run.sent):
                continue
            if seq in seen:
                run.duplicates += 1
                continue
            seen.add(seq)
            sizes[size] += 1
            latency = (stamp - run.sent[seq]) / 1e6
            run.latencies_ms.append(latency)
            per_post[seq].append(latency)
    run.first_ms = [min(values) if values else math.nan for values in per_post]
    run.last_ms = [max(values) if values else math.nan for values in per_post]
    run.received = len(run.latencies_ms)
    run.frame_bytes = sizes.most_common(1)[0][0] if sizes else 0


def run_project(readers: int, options: Options) -> Run:
    run = Run("project", readers, options.posts)
    name = f"project-{readers}"
    if options.trace:
        run.trace = options.work / f"trace-{name}.log"
    project = start_project(
        options.children, options.work, name, reporters=1, ws=options.ws, traced=run.trace
    )
    try:
        story_id = project.open_story(f"bench-{readers}")
        # One unmeasured post first, so the first measured one meets warm code paths.
        project.post(story_id, "Warm-up: the live blog opens.")

        def post(seq: int) -> None:
            project.post(story_id, body_for(seq))

        spies: list[Spy] = []

        def before() -> None:
            # uvicorn drops a connection idle for 5 s, as ours is while readers connect:
            # open a fresh one before the posts, outside the measured time.
            if project.conn is not None:
                project.conn.close()
                project.conn.connect()
            if options.py_spy is not None:
                out = options.work / f"profile-{name}.txt"
                spies.append(Spy(options.py_spy, project.pid, out, gil=True, rate=1000))

        # The readers' first messages: snapshot, then live.
        url = live_url(project.port, story_id)
        return measure(run, options, project.process, url, first=2, send=post, before=before)
    finally:
        for spy in spies:
            spy.stop()
        project.close()
        code = project.process.returncode
        if code not in (0, None, -signal.SIGTERM):
            print(f"  (project server exited {code}; log: {options.work / name}.log)")


def run_baseline(readers: int, options: Options, template: str) -> Run:
    run = Run("baseline", readers, options.posts)
    name = f"baseline-{readers}"
    frame = options.work / f"frame-{readers}.json"
    frame.write_text(template)
    extra = ["--frame", str(frame), "--posts", str(options.posts)]
    extra += ["--max-readers", str(readers)]
    if options.trace:
        run.trace = options.work / f"trace-{name}.log"
        extra += ["--trace", str(run.trace)]
    server, port = start_baseline(options.children, options.work, name, "broadcast", *extra)
    try:
        with sync_connect(
            f"ws://{HOST}:{port}/control", compression=None, proxy=None,
            open_timeout=REQUEST_TIMEOUT, close_timeout=1,
        ) as control:  # fmt: skip

            def trigger(seq: int) -> None:
                control.send(str(seq))
                control.recv(timeout=REQUEST_TIMEOUT)

            url = f"ws://{HOST}:{port}/live"
            return measure(run, options, server, url, first=1, send=trigger)  # hello
    finally:
        Children.stop(server)


def synthetic_frame() -> str:
    """A stand-in for the project's frame when the project run produced none."""
    update = {"body": body_for(0), "pad": "x" * 400}
    return json.dumps({"type": "event", "event": "update.posted", "data": {"update": update}})


def attempt(blank: Run, function: Callable[..., Run], *args: Any) -> Run:
    """Run one measurement; a failure is reported in the table, not raised."""
    print(f"  {blank.target}: {blank.readers} readers…", flush=True)
    try:
        return function(*args)
    except (RuntimeError, TimeoutError, OSError, ConnectionClosed, ValueError) as error:
        blank.failure = f"{type(error).__name__}: {error}"
        return blank


Pair = tuple[Run, Run]  # (project, baseline)


def one_round(readers: int, options: Options, index: int, template: str | None) -> Pair:
    """The project and the baseline, one after the other; the baseline first in odd rounds.

    ``template``: the project's frame from an earlier round, for a baseline that runs
    before the project has sent any.
    """
    runs: dict[str, Run] = {}
    for side in ("project", "baseline") if index % 2 == 0 else ("baseline", "project"):
        if side == "project":
            runs[side] = attempt(Run("project", readers, options.posts), run_project,
                                 readers, options)  # fmt: skip
            template = template or runs[side].sample
        else:
            frame = template or synthetic_frame()
            runs[side] = attempt(Run("baseline", readers, options.posts), run_baseline,
                                 readers, options, frame)  # fmt: skip
    return runs["project"], runs["baseline"]


def rounds(
    readers: int, options: Options, count: int, shown: Callable[[Pair], None]
) -> list[Pair]:
    """``count`` rounds in turns, each in a folder of its own (fresh stores, fresh logs).

    The first round always starts with the project, so every baseline sends the
    project's real frame bytes (a failed project leaves a synthetic frame of the same
    shape).
    """
    pairs: list[Pair] = []
    template: str | None = None
    for index in range(count):
        folder = options.work / f"round-{index}"
        folder.mkdir(parents=True, exist_ok=True)
        pair = one_round(readers, replace(options, work=folder), index, template)
        template = template or pair[0].sample
        shown(pair)
        pairs.append(pair)
    return pairs
