"""What every benchmark module shares: figures, the event loop, child processes, probes.

One module on purpose: the driver, the load clients, the baselines and the standalone
figure scripts all import from here, so no helper is written twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import importlib
import json
import math
import os
import queue
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]  # the checkout: liveblog/ and scripts/ in it
HOST = "127.0.0.1"
# A short live-blog paragraph, ~400 characters: the size of a typical post.
FILLER = (
    "Crowds have gathered outside the parliament building for a third day, and police "
    "have closed the two main avenues leading to the square. Our correspondent says the "
    "mood is tense but calm; organisers have called for the protest to continue until "
    "the results are reviewed. The electoral commission is expected to speak at 18:00 "
    "local time. More to follow as we confirm details on the ground."
)
# The fan-out's posts carry a sequence number that readers find in the frame's bytes.
SEQ_WIDTH = 5
SEQ_PATTERN = rb"bench seq=(\d{5})"
SEQ_RE = re.compile(SEQ_PATTERN)
SEQ_TEXT_RE = re.compile(SEQ_PATTERN.decode())
STARTUP_TIMEOUT = 60.0  # a server answering /healthz
STOP_TIMEOUT = 15.0  # a process asked to stop, before it is killed


def body_for(seq: int) -> str:
    """The fan-out's post number ``seq``: the marker readers look for, then a paragraph."""
    return f"bench seq={seq:0{SEQ_WIDTH}d} {FILLER}"


class BenchError(RuntimeError):
    """A workload could not be measured (reported in its row, the run goes on)."""


# -- figures ------------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ratio(a: float, b: float) -> float:
    ok = b > 0 and not (math.isnan(a) or math.isnan(b))
    return a / b if ok else math.nan


def num(value: float, digits: int = 0) -> str:
    """A figure with thousands separators; n/a for NaN."""
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


# -- the event loop and the driver's protocol -------------------------------------------------


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def emit(line: str) -> None:
    """One line of a child's protocol with the driver, on stdout."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


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


def run_client(main: Coroutine[Any, Any, dict[str, Any] | None], out: str | None) -> NoReturn:
    """Run a load client's ``main`` and end its process at once.

    With ``out``, its results are written there and it says ``DONE`` (a client that
    writes its own passes None). Exit code: 0 with results, 2 without, 130 if
    interrupted. ``os._exit`` skips closing thousands of sockets one handshake at a time.
    """
    code = 130
    with contextlib.suppress(KeyboardInterrupt):
        results = run_async(main)
        code = 2
        if results is not None:
            if out is not None:
                Path(out).write_text(json.dumps(results))
                emit("DONE")
            code = 0
    sys.stdout.flush()
    os._exit(code)


def interrupt(signum: int, frame: object) -> None:
    """A signal handler: SIGTERM ends the driver as Ctrl-C does, children stopped."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


# -- child processes ----------------------------------------------------------------------------


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


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


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


def revision() -> str:
    """The checkout measured: commit, and whether the code differs from it (read-only)."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # never touch the index
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", "liveblog", "projections"],
            cwd=ROOT, env=env, capture_output=True, timeout=10, check=False,
        ).returncode  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' + uncommitted changes' if dirty else ''}"


# -- probes ---------------------------------------------------------------------------------------


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


class Spy:
    """``py-spy record`` of one process, from now until ``stop()``: raw collapsed stacks.

    ``gil``: only samples that hold the GIL (what the process itself spends); py-spy is
    not a dependency of the project (``pip install py-spy``) and needs ptrace rights.
    """

    def __init__(self, py_spy: str, pid: int, out: Path, *, gil: bool, rate: int = 200) -> None:
        argv = [py_spy, "record", "--rate", str(rate), "--format", "raw",
                "--output", str(out), "--pid", str(pid)]  # fmt: skip
        self.process = subprocess.Popen(
            [*argv, "--gil"] if gil else argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        time.sleep(1.0)  # py-spy attaches

    def stop(self) -> None:
        """SIGINT: py-spy writes what it has and exits."""
        self.process.send_signal(signal.SIGINT)
        _, errors = self.process.communicate(timeout=60)
        if self.process.returncode not in (0, -signal.SIGINT):
            print(errors.decode(errors="replace"), file=sys.stderr)
