"""Fan-out benchmark (DESIGN §8): POST sent → reader received, liveblog beside a bare server.

For each reader count N, one invocation measures two servers in turn, each in its own
process on a free loopback port:

- project: ``liveblog serve`` on a fresh SQLite store in a temporary directory, with one
  story opened through the API with an editor token from ``liveblog token create``;
- baseline: a bare ``websockets`` asyncio server (this script, ``--baseline-server``) that,
  on a message on its control WebSocket, calls ``broadcast()`` with a pre-serialized
  frame: the project's own ``update.posted`` frame from the run just before, with only the
  sequence number changed, so the readers get the same bytes.

The same load client (this script, ``--client``, in its own process) connects N readers
(websockets client, no compression) in batches and waits until each has its first
messages (project: snapshot and live; baseline: a hello). Then this process, the driver,
sends P posts ``interval`` apart — ``POST /api/stories/{id}/updates`` on a keep-alive
connection, or the control message — stamping each with ``time.monotonic_ns()``
(CLOCK_MONOTONIC is system-wide on Linux, so stamps taken in different processes
compare). Readers stamp every message as they receive it; latency = received − sent.

    .venv/bin/python scripts/bench_fanout.py [--readers 1000,2000,5000] [--posts 20]
        [--interval 0.5] [--quick]

Besides p50/p99/max and messages received/expected, each table gives, per post, the
first reader's latency (the write path: POST → store → feed → hub) and the spread from
first to last reader (the fan-out itself), and the CPU each process used. The client and
the baseline run on uvloop when it is installed, as uvicorn does; the client freezes and
disables its own cyclic GC once its readers are connected, so that its pauses do not land
in the figures. ``--gc-log`` logs both servers' GC pauses and reports those in the
measured window; ``--ws`` is passed on to ``liveblog serve``.

The servers and the load client share the machine: read the figures as ratios within one
run, and look at the CPU columns (a load client at ~100 % of a core measures itself).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import http.client
import importlib
import json
import math
import os
import platform
import queue
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.client import connect as sync_connect

T = TypeVar("T")

HOST = "127.0.0.1"
SEQ_WIDTH = 5
SEQ_PATTERN = rb"bench seq=(\d{5})"
SEQ_RE = re.compile(SEQ_PATTERN)
SEQ_TEXT_RE = re.compile(SEQ_PATTERN.decode())
# A short live-blog paragraph, ~400 characters: the size of a typical post.
FILLER = (
    "Crowds have gathered outside the parliament building for a third day, and police "
    "have closed the two main avenues leading to the square. Our correspondent says the "
    "mood is tense but calm; organisers have called for the protest to continue until "
    "the results are reviewed. The electoral commission is expected to speak at 18:00 "
    "local time. More to follow as we confirm details on the ground."
)
BASELINE_HELLO = b'{"type":"hello"}'

STARTUP_TIMEOUT = 60.0  # a server answering /healthz
OPEN_TIMEOUT = 60.0  # one reader's handshake
FIRST_MESSAGES_TIMEOUT = 60.0  # one reader's first messages after its handshake
BATCH_TIMEOUT = 120.0  # a whole batch of readers ready
REQUEST_TIMEOUT = 60.0  # one POST or control round trip
SETTLE_SECONDS = 30.0  # after the last post, how long to wait for stragglers
STOP_TIMEOUT = 15.0  # a process asked to stop, before it is killed
RESULTS_TIMEOUT = 120.0  # the client writing its results
GC_LOG_MS = 1.0  # --gc-log: shorter pauses are not written


def body_for(seq: int) -> str:
    return f"bench seq={seq:0{SEQ_WIDTH}d} {FILLER}"


# -- shared helpers -----------------------------------------------------------------------


def raise_nofile(need: int) -> int:
    """Raise this process's open-file soft limit to ``need`` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < need:  # only root may raise the hard limit; try, quietly
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed, as uvicorn's ``loop="auto"`` picks it; else asyncio's own."""
    try:
        module = importlib.import_module("uvloop")
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = module.new_event_loop
    return factory


def run_async(main: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def emit(line: str) -> None:
    """One line of the client's or baseline's protocol with the driver, on stdout."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class GcLog:
    """Appends every cyclic-GC pause of this process over ``GC_LOG_MS`` to a file.

    Lines are ``<generation> <monotonic seconds at its end> <milliseconds>``, written as
    they happen (a server stopped by a signal runs no exit hooks).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.started = 0.0
        gc.callbacks.append(self.on_gc)

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
            return
        took_ms = (time.perf_counter() - self.started) * 1000
        if took_ms >= GC_LOG_MS:
            with open(self.path, "a") as sink:
                sink.write(f"{info['generation']} {time.monotonic():.6f} {took_ms:.3f}\n")


def gc_wrapped_cli(path: str, argv: list[str]) -> int:
    """``liveblog ARGV`` in this process, its GC pauses logged (``--gc-log``)."""
    from liveblog.cli import main as liveblog_main

    GcLog(path)
    return liveblog_main(argv)


# -- the load client (``--client``) ---------------------------------------------------------


@dataclass
class ReaderLog:
    messages: list[tuple[int, bytes]] = field(default_factory=list)
    close_code: int | None = None
    error: str | None = None


@dataclass
class Tally:
    expected: int
    count: int = 0
    complete: asyncio.Event = field(default_factory=asyncio.Event)


async def run_reader(
    url: str, first: int, log: ReaderLog, ready: asyncio.Future[bool], tally: Tally
) -> None:
    """Connect, take the ``first`` messages, then stamp every message as it arrives.

    The receive loop ends when the connection does or the client process exits (its
    main coroutine is bounded by ``--deadline``).
    """
    ws: ClientConnection | None = None
    try:
        ws = await connect(
            url,
            compression=None,
            proxy=None,
            user_agent_header=None,
            open_timeout=OPEN_TIMEOUT,
            ping_interval=None,  # the server pings; the client answers
            close_timeout=1,
            max_size=2**22,
        )
        for _ in range(first):
            await asyncio.wait_for(ws.recv(decode=False), FIRST_MESSAGES_TIMEOUT)
        ready.set_result(True)
        messages = log.messages
        while True:
            data = await ws.recv(decode=False)
            messages.append((time.monotonic_ns(), data))
            tally.count += 1
            if tally.count >= tally.expected:
                tally.complete.set()
    except ConnectionClosed as closed:
        log.close_code = closed.rcvd.code if closed.rcvd is not None else 1006
    except Exception as error:
        log.error = f"{type(error).__name__}: {error}"
    finally:
        if not ready.done():
            ready.set_result(False)


def client_results(logs: Sequence[ReaderLog], ready_seconds: float) -> dict[str, Any]:
    received: list[list[list[int]]] = []
    other = 0
    sample: str | None = None
    for log in logs:
        rows = []
        for stamp, data in log.messages:
            match = SEQ_RE.search(data)
            if match is None:
                other += 1
                continue
            rows.append([int(match.group(1)), stamp, len(data)])
            if sample is None:
                sample = data.decode()
        received.append(rows)
    closed = Counter(str(log.close_code) for log in logs if log.close_code is not None)
    errors = Counter(log.error for log in logs if log.error is not None)
    return {
        "ready_seconds": ready_seconds,
        "received": received,
        "other": other,
        "closed": dict(closed),
        "errors": dict(errors.most_common(5)),
        "sample": sample,
    }


async def read_stdin_line() -> str:
    """The driver's next word. A daemon thread reads it, so a deadline never waits on it."""
    loop = asyncio.get_running_loop()
    line: asyncio.Future[str] = loop.create_future()

    def settle(text: str) -> None:
        if not line.done():
            line.set_result(text)

    def read() -> None:
        text = sys.stdin.readline()
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
            loop.call_soon_threadsafe(settle, text)

    threading.Thread(target=read, name="bench-stdin", daemon=True).start()
    return await line


async def client_main(args: argparse.Namespace) -> dict[str, Any] | None:
    """Connect, say READY, wait for STOP (or the deadline); the results, or None on failure."""
    readers: int = args.client_readers
    started = time.monotonic()
    deadline = started + args.deadline
    limit = raise_nofile(readers + 256)
    if limit < readers + 64:
        emit(f"FAILED open-file limit {limit} is too low for {readers} readers")
        return None
    tally = Tally(expected=readers * args.client_posts)
    logs = [ReaderLog() for _ in range(readers)]
    tasks: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()
    for start in range(0, readers, args.batch):
        batch: list[asyncio.Future[bool]] = []
        for index in range(start, min(readers, start + args.batch)):
            ready: asyncio.Future[bool] = loop.create_future()
            batch.append(ready)
            reader = run_reader(args.client, args.first, logs[index], ready, tally)
            tasks.append(asyncio.ensure_future(reader))
        timeout = min(BATCH_TIMEOUT, max(1.0, deadline - time.monotonic()))
        _, pending = await asyncio.wait(batch, timeout=timeout)
        failed = len(pending) + sum(1 for f in batch if f.done() and not f.result())
        if failed:
            errors = Counter(log.error for log in logs if log.error is not None)
            emit(f"FAILED {failed} of readers {start}..{start + len(batch) - 1}: {errors}")
            return None
    ready_seconds = time.monotonic() - started
    # The client is the instrument: no cyclic-GC pause of its own (one takes ~150 ms with
    # 5,000 connections) may land in what it measures. What it keeps is bounded.
    gc.collect()
    gc.freeze()
    gc.disable()
    emit(f"READY {readers} {ready_seconds:.2f}")

    async def say_complete() -> None:
        await tally.complete.wait()
        emit("COMPLETE")

    announcer = asyncio.ensure_future(say_complete())
    try:
        line = await asyncio.wait_for(read_stdin_line(), max(1.0, deadline - time.monotonic()))
    except TimeoutError:
        line = "DEADLINE"
    announcer.cancel()
    results = client_results(logs, ready_seconds)
    results["stopped_by"] = line.strip() or "EOF"
    return results


# -- the bare baseline server (``--baseline-server``) ---------------------------------------


def bare_health(ws: ServerConnection, request: Request) -> Response | None:
    """A bare websockets server's /healthz, so the driver can wait for it like liveblog."""
    if request.path == "/healthz":
        return ws.respond(HTTPStatus.OK, "ok\n")
    return None


def baseline_frames(template: str, posts: int) -> list[bytes]:
    """The project's frame with each sequence number in turn: same bytes, same size."""
    return [
        SEQ_TEXT_RE.sub(f"bench seq={seq:0{SEQ_WIDTH}d}", template).encode()
        for seq in range(posts)
    ]


async def baseline_main(args: argparse.Namespace, frames: list[bytes]) -> int:
    raise_nofile(args.max_readers + 256)
    readers: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else ""
        if path == "/control":
            async for message in ws:
                broadcast(readers, frames[int(message)], text=True)
                await ws.send("ok")
            return
        readers.add(ws)
        try:
            await ws.send(BASELINE_HELLO, text=True)
            await ws.wait_closed()
        finally:
            readers.discard(ws)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with serve(
        handler,
        HOST,
        args.port,
        compression=None,
        process_request=bare_health,
        max_size=4 * 1024,  # as liveblog serve
        ping_interval=20.0,
        ping_timeout=20.0,
        close_timeout=1,
        backlog=2048,  # uvicorn's default; asyncio's is 100
    ):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.deadline)
    return 0


# -- the driver: processes --------------------------------------------------------------------


class Children:
    """Every process this run started, to stop however the run ends."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[Any]] = []

    def spawn(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        process: subprocess.Popen[Any] = subprocess.Popen(argv, **kwargs)
        self.processes.append(process)
        return process

    @staticmethod
    def stop(process: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(Exception):
                self.stop(process)
        self.processes.clear()


class Lines:
    """A child's stdout as lines, read by a thread so waits can time out."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.queue: queue.Queue[str | None] = queue.Queue()
        stream = process.stdout
        assert stream is not None

        def pump() -> None:
            for line in stream:
                self.queue.put(line.rstrip("\n"))
            self.queue.put(None)

        threading.Thread(target=pump, name="bench-lines", daemon=True).start()

    def expect(self, words: Sequence[str], timeout: float) -> str:
        """The next line starting with one of ``words``; raises on timeout, EOF or FAILED."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {'/'.join(words)} within {timeout:.0f}s")
            try:
                line = self.queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f"the client exited before {'/'.join(words)}")
            if line.startswith("FAILED"):
                raise RuntimeError(f"client: {line}")
            if line.split(" ", 1)[0] in words:
                return line


def wait_healthy(port: int, process: subprocess.Popen[Any], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{tail(log)}")
        conn = http.client.HTTPConnection(HOST, port, timeout=1)
        try:
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.1)  # polling a readiness probe
    raise RuntimeError(f"server not ready after {STARTUP_TIMEOUT:.0f}s:\n{tail(log)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its threads so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all cores, from /proc/stat."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values[:8]) - idle, sum(values[:8])


@dataclass
class Usage:
    """CPU used during the measured window, in % of one core (machine: % of all cores)."""

    server: float = math.nan
    client: float = math.nan
    machine: float = math.nan


class UsageMeter:
    def __init__(self, server_pid: int, client_pid: int) -> None:
        self.pids = (server_pid, client_pid)
        self.wall = time.monotonic()
        self.cpu = [cpu_seconds(pid) for pid in self.pids]
        self.ticks = machine_ticks()

    def read(self) -> Usage:
        wall = max(1e-9, time.monotonic() - self.wall)
        server, client = (
            100 * (cpu_seconds(pid) - before) / wall
            for pid, before in zip(self.pids, self.cpu, strict=True)
        )
        busy, total = machine_ticks()
        spent = total - self.ticks[1]
        machine = 100 * (busy - self.ticks[0]) / spent if spent > 0 else math.nan
        return Usage(server, client, machine)


# -- the driver: one measured run ------------------------------------------------------------


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
    # Per post: its first reader's latency (the write path) and last minus first (fan-out).
    first_ms: list[float] = field(default_factory=list)
    spread_ms: list[float] = field(default_factory=list)
    window: tuple[float, float] = (math.nan, math.nan)  # first send .. all received
    gc_log: Path | None = None  # the server's GC pauses, with --gc-log
    usage: Usage = field(default_factory=Usage)
    closed: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    sample: str | None = None
    failure: str | None = None

    @property
    def expected(self) -> int:
        return self.readers * self.posts

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_ms, p)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Options:
    posts: int
    interval: float
    batch: int
    work: Path
    children: Children
    ws: str | None = None  # liveblog serve --ws, when given
    gc_log: bool = False


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
    out = options.work / f"{run.target}-{run.readers}.json"
    stderr = (options.work / f"client-{run.target}-{run.readers}.log").open("wb")
    deadline = (
        3 * BATCH_TIMEOUT
        + run.readers / max(1, options.batch) * 10
        + options.posts * options.interval * 4
        + SETTLE_SECONDS
    )
    client: subprocess.Popen[str] = options.children.spawn(
        [
            sys.executable, __file__, "--client", url,
            "--client-readers", str(run.readers), "--client-posts", str(options.posts),
            "--first", str(first), "--batch", str(options.batch),
            "--out", str(out), "--deadline", f"{deadline:.0f}",
        ],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True,
    )  # fmt: skip
    lines = Lines(client)
    try:
        ready = lines.expect(["READY"], deadline)
        run.ready_seconds = float(ready.split()[2])
        before()
        meter = UsageMeter(server.pid, client.pid)
        sent = drive(send, options, run)
        with contextlib.suppress(TimeoutError):  # losses are counted below
            lines.expect(["COMPLETE"], SETTLE_SECONDS)
        run.usage = meter.read()
        run.window = (sent[0] / 1e9, time.monotonic())
        assert client.stdin is not None
        client.stdin.write("STOP\n")
        client.stdin.flush()
        lines.expect(["DONE"], RESULTS_TIMEOUT)
        collect(run, json.loads(out.read_text()), sent)
    finally:
        Children.stop(client)
        stderr.close()
    return run


def drive(send: Callable[[int], None], options: Options, run: Run) -> list[int]:
    """Send the posts on an absolute schedule; the stamp is taken just before each send."""
    sent: list[int] = []
    start = time.monotonic() + 0.2
    for seq in range(options.posts):
        due = start + seq * options.interval
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # the schedule: posts `interval` apart
        run.lateness_ms = max(run.lateness_ms, (time.monotonic() - due) * 1000)
        stamp = time.monotonic_ns()
        sent.append(stamp)
        send(seq)
        run.request_ms.append((time.monotonic_ns() - stamp) / 1e6)
    return sent


def collect(run: Run, results: dict[str, Any], sent: list[int]) -> None:
    run.closed = results["closed"]
    run.errors = results["errors"]
    run.sample = results["sample"]
    sizes: Counter[int] = Counter()
    per_post: list[list[float]] = [[] for _ in sent]
    for rows in results["received"]:
        seen: set[int] = set()
        for seq, stamp, size in rows:
            if seq >= len(sent):
                continue
            if seq in seen:
                run.duplicates += 1
                continue
            seen.add(seq)
            sizes[size] += 1
            latency = (stamp - sent[seq]) / 1e6
            run.latencies_ms.append(latency)
            per_post[seq].append(latency)
    run.first_ms = [min(values) for values in per_post if values]
    run.spread_ms = [max(values) - min(values) for values in per_post if values]
    run.received = len(run.latencies_ms)
    run.frame_bytes = sizes.most_common(1)[0][0] if sizes else 0


def start_server(
    options: Options, argv: list[str], log: Path, port: int, env: dict[str, str] | None = None
) -> subprocess.Popen[Any]:
    with log.open("ab") as sink:
        server = options.children.spawn(argv, env=env, stdout=sink, stderr=subprocess.STDOUT)
    wait_healthy(port, server, log)
    print(f"    server pid {server.pid} on port {port}", flush=True)  # for a profiler
    return server


def http_json(
    conn: http.client.HTTPConnection, path: str, payload: dict[str, Any], token: str
) -> tuple[int, dict[str, Any]]:
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    conn.request("POST", path, body, headers)
    response = conn.getresponse()
    data = response.read()
    return response.status, json.loads(data) if data else {}


def run_project(readers: int, options: Options) -> Run:
    run = Run("project", readers, options.posts)
    database = options.work / f"project-{readers}.sqlite3"
    # Thousands of readers from 127.0.0.1, and reporters who post far faster than
    # people do: no per-address limit and no write rate limit for the bench.
    env = {
        **os.environ,
        "LIVEBLOG_DATABASE_URL": f"sqlite:///{database}",
        "LIVEBLOG_MAX_CONNECTIONS_PER_ADDRESS": "0",
        "LIVEBLOG_WRITE_RATE": "off",
    }
    cli = [sys.executable, "-m", "liveblog.cli"]
    made = subprocess.run(
        [*cli, "token", "create", "--name", "Bench Editor", "--role", "editor"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if made.returncode != 0:
        raise RuntimeError(f"liveblog token create failed:\n{made.stderr}")
    token = made.stdout.strip().splitlines()[-1]
    port = free_port()
    log = options.work / f"project-{readers}.log"
    serve_argv = [*cli, "serve", "--host", HOST, "--port", str(port), "--log-level", "warning"]
    if options.ws:
        serve_argv += ["--ws", options.ws]
    if options.gc_log:
        run.gc_log = options.work / f"gc-project-{readers}.log"
        serve_argv[: len(cli)] = [sys.executable, __file__, "--gc-wrap", str(run.gc_log)]
    server = start_server(options, serve_argv, log, port, env)
    conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
    try:
        status, story = http_json(
            conn, "/api/stories",
            {"slug": f"bench-{readers}", "title": "Fan-out bench", "summary": "Live"}, token,
        )  # fmt: skip
        if status != 201:
            raise RuntimeError(f"opening the story answered {status}: {story}")
        path = f"/api/stories/{story['id']}/updates"
        # One unmeasured post first, so the first measured one meets warm code paths.
        status, reply = http_json(conn, path, {"body": "Warm-up: the live blog opens."}, token)
        if status != 201:
            raise RuntimeError(f"the warm-up post answered {status}: {reply}")

        def post(seq: int) -> None:
            status, reply = http_json(conn, path, {"body": body_for(seq)}, token)
            if status != 201:
                raise RuntimeError(f"post {seq} answered {status}: {reply}")

        def reconnect() -> None:
            # uvicorn drops a connection idle for 5 s, as ours is while readers connect:
            # open a fresh one before the posts, outside the measured time.
            conn.close()
            conn.connect()

        url = f"ws://{HOST}:{port}/api/stories/{story['id']}/live"
        # The readers' first messages: snapshot, then live.
        return measure(run, options, server, url, first=2, send=post, before=reconnect)
    finally:
        conn.close()
        Children.stop(server)
        if server.returncode not in (0, None, -signal.SIGTERM):
            print(f"  (project server exited {server.returncode}; log: {log})")


def run_baseline(readers: int, options: Options, template: str) -> Run:
    run = Run("baseline", readers, options.posts)
    frame = options.work / f"frame-{readers}.json"
    frame.write_text(template)
    port = free_port()
    log = options.work / f"baseline-{readers}.log"
    argv = [
        sys.executable, __file__, "--baseline-server", "--port", str(port),
        "--frame", str(frame), "--posts", str(options.posts),
        "--max-readers", str(readers), "--deadline", "7200",
    ]  # fmt: skip
    if options.gc_log:
        run.gc_log = options.work / f"gc-baseline-{readers}.log"
        argv += ["--gc-file", str(run.gc_log)]
    server = start_server(options, argv, log, port)
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


# -- the driver: report -----------------------------------------------------------------------


def fmt(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def ratio(a: float, b: float) -> float:
    return a / b if b > 0 and not (math.isnan(a) or math.isnan(b)) else math.nan


def table(project: Run, baseline: Run, options: Options) -> str:
    head = (
        f"{project.readers} readers, {options.posts} posts {options.interval:g} s apart, "
        f"frame {project.frame_bytes or baseline.frame_bytes} B"
    )
    rows = [
        f"{'target':<9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  {'received/expected':<24}"
        f" {'first':>6} {'spread':>6} {'req ms':>7}"
        f" {'ready s':>7} {'srv CPU':>7} {'cli CPU':>7} {'box':>5}"
    ]
    for run in (project, baseline):
        share = 100 * run.received / run.expected if run.expected else math.nan
        got = f"{run.received}/{run.expected} ({share:.1f}%)"
        rows.append(
            f"{run.target:<9} {fmt(run.percentile(50)):>8} {fmt(run.percentile(99)):>8}"
            f" {fmt(run.percentile(100)):>8}  {got:<24}"
            f" {fmt(percentile(run.first_ms, 50)):>6} {fmt(percentile(run.spread_ms, 50)):>6}"
            f" {fmt(percentile(run.request_ms, 50)):>7} {fmt(run.ready_seconds):>7}"
            f" {fmt(run.usage.server, 0) + '%':>7} {fmt(run.usage.client, 0) + '%':>7}"
            f" {fmt(run.usage.machine, 0) + '%':>5}"
        )
    p50 = ratio(project.percentile(50), baseline.percentile(50))
    p99 = ratio(project.percentile(99), baseline.percentile(99))
    rows.append(f"{'ratio':<9} {fmt(p50, 2) + 'x':>8} {fmt(p99, 2) + 'x':>8}")
    notes = []
    for run in (project, baseline):
        if run.gc_log is not None:
            notes.append(f"{run.target}: {gc_summary(run)}")
        if run.lateness_ms > options.interval * 1000 / 2:
            notes.append(f"{run.target}: a send was {run.lateness_ms:.0f} ms behind schedule")
        if run.failure:
            notes.append(f"{run.target}: FAILED: {run.failure}")
        if run.received < run.expected:
            notes.append(f"{run.target}: LOSS: {run.expected - run.received} messages missing")
        if run.duplicates:
            notes.append(f"{run.target}: {run.duplicates} duplicate messages")
        if run.closed:
            notes.append(f"{run.target}: connections closed early, by code: {run.closed}")
        if run.errors:
            notes.append(f"{run.target}: reader errors: {run.errors}")
    legend = (
        "(first / spread: p50 over posts of the first reader's latency and of last − first,"
        " ms;\n req ms: p50 round trip of the POST or the trigger; ready s: connecting all;"
        "\n CPU: % of one core from READY to COMPLETE; box: busy % of all cores, anyone's)"
    )
    return "\n".join([head, *rows, legend, *notes])


def gc_pauses(run: Run) -> list[tuple[int, float, float]]:
    """The server's logged GC pauses: (generation, ended at, ms)."""
    if run.gc_log is None or not run.gc_log.exists():
        return []
    pauses = []
    for line in run.gc_log.read_text().splitlines():
        generation, at, took = line.split()
        pauses.append((int(generation), float(at), float(took)))
    return pauses


def gc_summary(run: Run) -> str:
    start, end = run.window
    inside = [p for p in gc_pauses(run) if p[1] >= start and p[1] - p[2] / 1000 <= end]
    full = [took for generation, _, took in inside if generation == 2]
    young = [took for generation, _, took in inside if generation < 2]
    return (
        f"server GC in the measured window: {len(full)} full collections "
        f"({', '.join(f'{t:.0f}' for t in full) or '-'} ms); "
        f"{len(young)} young ones ≥ {GC_LOG_MS:g} ms, {sum(young):.0f} ms in all"
    )


def markdown(pairs: Sequence[tuple[Run, Run]]) -> str:
    lines = [
        "| readers | target | p50 ms | p99 ms | max ms | received/expected "
        "| first ms | spread ms | server CPU | client CPU | box busy |",
        "|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for project, baseline in pairs:
        for run in (project, baseline):
            lines.append(
                f"| {run.readers:,} | {run.target} | {fmt(run.percentile(50))} "
                f"| {fmt(run.percentile(99))} | {fmt(run.percentile(100))} "
                f"| {run.received:,}/{run.expected:,} | {fmt(percentile(run.first_ms, 50))} "
                f"| {fmt(percentile(run.spread_ms, 50))} | {fmt(run.usage.server, 0)} % "
                f"| {fmt(run.usage.client, 0)} % | {fmt(run.usage.machine, 0)} % |"
            )
        p50 = ratio(project.percentile(50), baseline.percentile(50))
        p99 = ratio(project.percentile(99), baseline.percentile(99))
        lines.append(
            f"| {project.readers:,} | **project/baseline** | **{fmt(p50, 2)}×** "
            f"| **{fmt(p99, 2)}×** | | | | | | | |"
        )
    return "\n".join(lines)


def versions() -> str:
    found = []
    for name in ("uvicorn", "websockets", "starlette", "uvloop"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def revision() -> str:
    """The checkout measured: commit, and whether the code differs from it (read-only)."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # never touch the index
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root, env=env, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", "liveblog", "projections"],
            cwd=root, env=env, capture_output=True, timeout=10, check=False,
        ).returncode  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' + uncommitted changes' if dirty else ''}"


def driver_main(args: argparse.Namespace) -> int:
    counts = [200] if args.quick else [int(c) for c in args.readers.split(",") if c.strip()]
    posts = 5 if args.quick else args.posts
    if not counts or min(counts) < 1 or not 0 < posts < 10**SEQ_WIDTH or args.interval <= 0:
        print("need reader counts ≥ 1, 0 < posts < 100000 and interval > 0", file=sys.stderr)
        return 2
    raise_nofile(max(counts) + 256)  # servers started from here inherit it
    loop_name = "uvloop" if loop_factory() is not None else "asyncio"
    print(
        f"fan-out bench: readers {counts}, {posts} posts {args.interval:g} s apart, "
        f"batches of {args.batch}\n{platform.python_implementation()} {platform.python_version()}"
        f", {os.cpu_count()} CPUs; {versions()}; client and baseline on {loop_name}\n"
        f"liveblog at {revision()}; liveblog serve --ws {args.ws or '(its default)'}",
        flush=True,
    )
    children = Children()
    pairs: list[tuple[Run, Run]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-fanout-") as folder:
            options = Options(
                posts, args.interval, args.batch, Path(folder), children, args.ws, args.gc_log
            )
            for readers in counts:
                project = attempt(Run("project", readers, posts), run_project, readers, options)
                template = project.sample or synthetic_frame()
                if project.sample is None:
                    print("  (no project frame received: the baseline uses a synthetic one)")
                baseline = attempt(
                    Run("baseline", readers, posts), run_baseline, readers, options, template
                )
                pairs.append((project, baseline))
                print("\n" + table(project, baseline, options), flush=True)
                if args.keep_logs:
                    keep = Path(args.keep_logs)
                    keep.mkdir(parents=True, exist_ok=True)
                    for log in Path(folder).glob("*.log"):
                        (keep / log.name).write_bytes(log.read_bytes())
    finally:
        children.stop_all()
    print("\n" + markdown(pairs))
    failed = any(r.failure or r.received < r.expected for pair in pairs for r in pair)
    return 1 if failed else 0


def attempt(blank: Run, function: Callable[..., Run], *args: Any) -> Run:
    """Run one measurement; a failure is reported in the table, not raised."""
    print(f"  {blank.target}: {blank.readers} readers…", flush=True)
    try:
        return function(*args)
    except (RuntimeError, TimeoutError, OSError, ConnectionClosed, ValueError) as error:
        blank.failure = f"{type(error).__name__}: {error}"
        return blank


# -- entry point ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--readers", default="1000,2000,5000", help="comma-separated counts")
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between posts")
    parser.add_argument("--quick", action="store_true", help="200 readers, 5 posts")
    parser.add_argument("--batch", type=int, default=200, help="readers connecting at once")
    parser.add_argument("--ws", help="passed to liveblog serve --ws (default: its own)")
    parser.add_argument(
        "--gc-log", action="store_true",
        help="log both servers' GC pauses and report those in the measured window "
        "(runs liveblog's CLI inside this script to hook the collector)",
    )  # fmt: skip
    parser.add_argument("--keep-logs", metavar="DIR", help="copy server and client logs here")
    # Internal: the load client and the baseline server are this script in other modes.
    hidden = argparse.SUPPRESS
    parser.add_argument("--client", metavar="URL", help=hidden)
    parser.add_argument("--client-readers", type=int, default=0, help=hidden)
    parser.add_argument("--client-posts", type=int, default=0, help=hidden)
    parser.add_argument("--first", type=int, default=1, help=hidden)
    parser.add_argument("--out", help=hidden)
    parser.add_argument("--deadline", type=float, default=600.0, help=hidden)
    parser.add_argument("--baseline-server", action="store_true", help=hidden)
    parser.add_argument("--port", type=int, default=0, help=hidden)
    parser.add_argument("--frame", help=hidden)
    parser.add_argument("--gc-file", help=hidden)
    parser.add_argument("--max-readers", type=int, default=10_000, help=hidden)
    return parser.parse_args(argv)


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["--gc-wrap"] and len(given) > 2:
        return gc_wrapped_cli(given[1], given[2:])
    args = parse_args(given)
    if args.client:
        code = 130
        with contextlib.suppress(KeyboardInterrupt):
            results = run_async(client_main(args))
            code = 2
            if results is not None:
                Path(args.out).write_text(json.dumps(results))
                emit("DONE")
                code = 0
        sys.stdout.flush()
        os._exit(code)  # skip closing thousands of sockets one handshake at a time
    if args.baseline_server:
        if args.gc_file:
            GcLog(args.gc_file)
        frames = baseline_frames(Path(args.frame).read_text(), args.posts)
        with contextlib.suppress(KeyboardInterrupt):
            return run_async(baseline_main(args, frames))
        return 130
    signal.signal(signal.SIGTERM, interrupt)  # so the children are stopped then too
    try:
        return driver_main(args)
    except KeyboardInterrupt:
        print("\ninterrupted; every process this run started has been stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
