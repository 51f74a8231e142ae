"""The driver's side of the load clients: start them, say GO, collect what they measured.

A load client (``python -m scripts.benchmarks.load_clients``) is a child process on
127.0.0.1, registered with the run's ``Children``, that speaks PREPARED/GO/DONE on its
stdin and stdout and writes its results as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scripts.benchmarks.common import (
    ROOT,
    BenchError,
    Children,
    Lines,
    Meter,
    cpu_seconds,
    tail,
    wait_healthy,
)


class Client:
    """A load client and its PREPARED/GO/DONE protocol."""

    def __init__(
        self, children: Children, work: Path, name: str, argv: Sequence[str], deadline: float
    ) -> None:
        self.out = work / f"{name}.json"
        self.log = work / f"{name}.log"
        self.deadline = deadline
        with self.log.open("ab") as sink:
            self.process: subprocess.Popen[str] = children.spawn(
                [
                    sys.executable, "-m", "scripts.benchmarks.load_clients",
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


def seconds_between(results: list[dict[str, Any]]) -> float:
    """First reader's handshake to last reader's awaited message, over every client."""
    start: int = min(r["first_start"] for r in results)
    end: int = max(r["last_done"] for r in results)
    return (end - start) / 1e9


def client_errors(results: list[dict[str, Any]]) -> str:
    return "; ".join(f"{e} ×{n}" for r in results for e, n in r["errors"].items())


def merged_statuses(results: Sequence[dict[str, Any]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for one in results:
        for status, count in one["statuses"].items():
            merged[status] = merged.get(status, 0) + count
    return merged


def spawn_server(
    children: Children, argv: list[str], log: Path, port: int, env: dict[str, str] | None = None
) -> subprocess.Popen[Any]:
    """A server child, its output in ``log``, once it answers ``/healthz``."""
    with log.open("ab") as sink:
        server = children.spawn(argv, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    wait_healthy(port, server, log)
    return server
