"""The driver's side of ``scripts/bench``: results, servers, load-client processes, probes.

Servers and clients are child processes on 127.0.0.1, registered with one ``Children``
(from ``scripts/bench_fanout.py``) that the driver stops in ``finally``, whatever happens.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import connect as sync_connect

from scripts.bench_fanout import (
    FILLER,
    HOST,
    Children,
    Lines,
    cpu_seconds,
    free_port,
    machine_ticks,
    tail,
    wait_healthy,
)

ROOT = Path(__file__).resolve().parent.parent
REQUEST_TIMEOUT = 60.0


class BenchError(RuntimeError):
    """A workload could not be measured (reported in its row, the run goes on)."""


# -- results ------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the summary table."""

    workload: str
    project: str = "n/a"
    baseline: str = "n/a"
    ratio: float = math.nan
    goal: str = ""
    met: bool | None = None  # None: not measured
    notes: list[str] = field(default_factory=list)
    # A row shown for comparison, with no goal: ``met`` says only that it was measured.
    report_only: bool = False

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "n/a"
        if self.report_only:
            return "—"
        return "yes" if self.met else "NO"


def ratio(a: float, b: float) -> float:
    ok = b > 0 and not (math.isnan(a) or math.isnan(b))
    return a / b if ok else math.nan


def num(value: float, digits: int = 0) -> str:
    """A figure with thousands separators; n/a for NaN."""
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


# -- child processes ----------------------------------------------------------------------------


class Client:
    """A load client (``python -m scripts.bench_clients``) and its PREPARED/GO/DONE protocol."""

    def __init__(
        self, children: Children, work: Path, name: str, argv: Sequence[str], deadline: float
    ) -> None:
        self.out = work / f"{name}.json"
        self.log = work / f"{name}.log"
        self.deadline = deadline
        with self.log.open("ab") as sink:
            self.process: subprocess.Popen[str] = children.spawn(
                [
                    sys.executable, "-m", "scripts.bench_clients",
                    "--out", str(self.out), "--deadline", f"{deadline:.0f}", *argv,
                ],
                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sink, text=True,
            )  # fmt: skip
        self.lines = Lines(self.process)

    def expect(self, word: str, timeout: float | None = None) -> str:
        try:
            return self.lines.expect([word], self.deadline if timeout is None else timeout)
        except (RuntimeError, TimeoutError) as error:
            raise BenchError(f"{error}; client log:\n{tail(self.log, 10)}") from None

    def say(self, word: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(word + "\n")
        self.process.stdin.flush()

    def results(self) -> dict[str, Any]:
        self.expect("DONE")
        data: dict[str, Any] = json.loads(self.out.read_text())
        return data

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)


def go(clients: Sequence[Client]) -> None:
    """Start every client at once, once all are set up."""
    for client in clients:
        client.expect("PREPARED", 120)
    for client in clients:
        client.say("GO")


def run_clients(clients: Sequence[Client], pid: int | None = None) -> list[dict[str, Any]]:
    """Run the clients; with ``pid``, the results carry that process's CPU (a ``Meter``)."""
    go(clients)
    meter = Meter(pid) if pid is not None else None
    results = [client.results() for client in clients]
    if meter is not None:
        results[0]["meter"] = meter.stop()
    return results


def spawn_server(
    children: Children, argv: list[str], log: Path, port: int, env: dict[str, str] | None = None
) -> subprocess.Popen[Any]:
    with log.open("ab") as sink:
        server = children.spawn(argv, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    wait_healthy(port, server, log)
    return server


def start_ws_baseline(
    children: Children, work: Path, name: str, messages: Sequence[str], mode: str = "ws"
) -> tuple[subprocess.Popen[Any], int]:
    """A bare server sending ``messages`` on connect, at ``ws://HOST:port/live``.

    ``mode``: ``ws`` (plain websockets) or ``starlette-ws`` (starlette on uvicorn with
    liveblog's ``server_config``, the same ``--ws`` as ``liveblog serve``'s default).
    """
    file = work / f"{name}-messages.json"
    file.write_text(json.dumps(list(messages)))
    port = free_port()
    argv = [
        sys.executable, "-m", "scripts.bench_baselines", "--port", str(port),
        mode, "--messages", str(file),
    ]  # fmt: skip
    return spawn_server(children, argv, work / f"{name}.log", port), port


# -- the project server -------------------------------------------------------------------------


@dataclass
class Project:
    """``liveblog serve`` on a fresh SQLite file, with an editor and reporters' tokens."""

    process: subprocess.Popen[Any]
    port: int
    editor: str
    reporters: list[str]
    work: Path
    name: str
    conn: http.client.HTTPConnection | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def request(
        self, method: str, path: str, payload: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """One request on the driver's keep-alive connection (reopened when uvicorn drops it)."""
        body = None if payload is None else json.dumps(payload).encode()
        sent = dict(headers or {})
        if body is not None:
            sent["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=REQUEST_TIMEOUT)
            try:
                self.conn.request(method, path, body, sent)
                response = self.conn.getresponse()
                data = response.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        raise AssertionError("unreachable")

    def open_story(self, slug: str) -> str:
        status, _, data = self.request(
            "POST", "/api/stories", {"slug": slug, "title": f"Bench: {slug}", "summary": "Live"},
            {"Authorization": f"Bearer {self.editor}"},
        )  # fmt: skip
        if status != 201:
            raise BenchError(f"opening the story answered {status}: {data[:200]!r}")
        story_id: str = json.loads(data)["id"]
        return story_id

    def version(self, story_id: str) -> int:
        status, headers, _ = self.request("GET", f"/api/stories/{story_id}")
        if status != 200:
            raise BenchError(f"GET story answered {status}")
        return int(headers["etag"].strip('"').lstrip("v"))

    def metrics(self) -> dict[str, float]:
        status, _, data = self.request("GET", "/metrics")
        if status != 200:
            raise BenchError(f"/metrics answered {status}")
        values = {}
        for line in data.decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.split()
                values[name] = float(value)
        return values

    def post_client(
        self, children: Children, story_id: str, posts: int, name: str, first_seq: int = 0
    ) -> Client:
        """A load client of one reporter per token, posting ``posts`` updates in all."""
        tokens = self.work / f"{self.name}-tokens.json"
        tokens.write_text(json.dumps(self.reporters))
        argv = [
            "post", "--port", str(self.port), "--path", f"/api/stories/{story_id}/updates",
            "--tokens", str(tokens), "--posts", str(posts), "--first-seq", str(first_seq),
            "--filler", FILLER,
        ]  # fmt: skip
        return Client(children, self.work, name, argv, deadline=60 + posts)

    def seed(self, children: Children, story_id: str, posts: int) -> dict[str, Any]:
        """Post ``posts`` updates through the API (8 reporters); every one must answer 201."""
        client = self.post_client(children, story_id, posts, f"{self.name}-seed")
        (results,) = run_clients([client])
        if results["statuses"] != {"201": posts}:
            raise BenchError(f"seeding answered {results['statuses']}: {results['errors']}")
        return results

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        Children.stop(self.process)


def issue_tokens(database: Path, reporters: int) -> tuple[str, list[str]]:
    """An editor's and ``reporters`` reporters' tokens, issued in-process as the CLI does."""
    from liveblog.settings import Settings
    from liveblog.tokens import Credentials, Role

    env = Settings(database_url=f"sqlite:///{database}").eventsourcing_env()
    with Credentials(env=env) as credentials:
        editor, _ = credentials.issue(name="Bench Editor", role=Role.EDITOR)
        tokens = [
            credentials.issue(name=f"Bench Reporter {i}", role=Role.REPORTER)[0]
            for i in range(reporters)
        ]
    return editor, tokens


def start_project(children: Children, work: Path, name: str, reporters: int = 8) -> Project:
    database = work / f"{name}.sqlite3"
    editor, tokens = issue_tokens(database, reporters)
    # Thousands of readers from 127.0.0.1, and reporters who post far faster than
    # people do: no per-address limit and no write rate limit for the bench.
    env = {
        **os.environ,
        "LIVEBLOG_DATABASE_URL": f"sqlite:///{database}",
        "LIVEBLOG_MAX_CONNECTIONS_PER_ADDRESS": "0",
        "LIVEBLOG_WRITE_RATE": "off",
    }
    port = free_port()
    argv = [
        sys.executable, "-m", "liveblog.cli", "serve",
        "--host", HOST, "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    server = spawn_server(children, argv, work / f"{name}.log", port, env)
    print(f"    {name}: liveblog serve pid {server.pid} on port {port}", flush=True)
    return Project(server, port, editor, tokens, work, name)


def ws_messages(url: str, count: int) -> list[str]:
    """The first ``count`` text messages a fresh reader of ``url`` receives."""
    with sync_connect(url, compression=None, proxy=None, open_timeout=REQUEST_TIMEOUT) as ws:
        return [str(ws.recv(timeout=REQUEST_TIMEOUT)) for _ in range(count)]


class Meter:
    """CPU over a window: one process's (% of one core) and the whole machine's, anyone's.

    The machine is shared: what neither the measured process nor the load client used
    went to other processes, and the notes say how much (in % of one core).
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.wall = time.monotonic()
        self.cpu = cpu_seconds(pid)
        self.ticks = machine_ticks()
        self.process = math.nan
        self.cpu_used = math.nan
        self.machine = math.nan  # % of all cores

    def stop(self) -> Meter:
        wall = max(1e-9, time.monotonic() - self.wall)
        self.cpu_used = cpu_seconds(self.pid) - self.cpu  # seconds, over the window
        self.process = 100 * self.cpu_used / wall
        busy, total = machine_ticks()
        spent = total - self.ticks[1]
        self.machine = 100 * (busy - self.ticks[0]) / spent if spent > 0 else math.nan
        return self

    def others(self, client: float = 0.0) -> float:
        """% of one core used by neither the process nor the client."""
        return max(0.0, self.machine * (os.cpu_count() or 1) - self.process - client)

    def describe(self, what: str = "server", client: float | None = None) -> str:
        mine = f"{what} CPU {num(self.process)} %"
        theirs = f", load client {num(client)} %" if client is not None else ""
        return f"{mine}{theirs}, others {num(self.others(client or 0.0))} % of a core"


# -- probes ---------------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """VmRSS of a process, in KiB (/proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


def settled_rss(pid: int, least: float = 2.0, most: float = 15.0) -> int:
    """VmRSS once it holds still: nothing is forced (no GC asked for), only waited for.

    Samples every 0.5 s for at least ``least`` seconds, until the last four samples lie
    within 0.5 % of each other, or ``most`` seconds have passed.
    """
    started = time.monotonic()
    samples: list[int] = []
    while True:
        samples.append(rss_kib(pid))
        recent = samples[-4:]
        steady = len(recent) == 4 and max(recent) - min(recent) <= 0.005 * max(recent)
        waited = time.monotonic() - started
        if (steady and waited >= least) or waited >= most:
            return samples[-1]
        time.sleep(0.5)  # sampling a process's memory


# -- what every workload gets ---------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """The workloads' sizes: DESIGN §8's (full), or smaller ones on the same code paths."""

    fanout_readers: int
    fanout_posts: int
    capacity_readers: int
    join_readers: int
    read_seconds: float
    write_posts: int
    rebuild_stories: int
    rebuild_events: int
    resume_readers: int
    growth_updates: int
    growth_measured: int
    story_updates: int = 300  # the join storm's and the read API's story
    read_rounds: int = 10  # read_seconds per target, split into alternating rounds
    write_rounds: int = 4  # write_posts per side, split into alternating rounds
    fanout_rounds: int = 3  # fan-out pairs (project and baseline), in turns
    rebuild_rounds: int = 3  # rebuild and raw-read pairs, in turns
    resume_posts: int = 1_050  # posted while the server runs: the ring holds them all
    resume_lag: int = 1_000  # readers resume up to this many versions behind
    handshakes: int = 200  # readers joining at once

    @classmethod
    def full(cls) -> Sizes:
        return cls(
            fanout_readers=5_000, fanout_posts=20, capacity_readers=10_000, join_readers=2_000,
            read_seconds=10.0, write_posts=2_000, rebuild_stories=100, rebuild_events=100_000,
            resume_readers=1_000, growth_updates=10_000, growth_measured=500,
        )  # fmt: skip

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            fanout_readers=500, fanout_posts=5, capacity_readers=1_000, join_readers=500,
            read_seconds=3.0, write_posts=400, rebuild_stories=20, rebuild_events=10_000,
            resume_readers=200, growth_updates=2_000, growth_measured=200, read_rounds=3,
            write_rounds=2, fanout_rounds=1, rebuild_rounds=1,
        )  # fmt: skip


@dataclass
class Context:
    sizes: Sizes
    children: Children
    work: Path

    def folder(self, name: str) -> Path:
        path = self.work / name
        path.mkdir(parents=True, exist_ok=True)
        return path
