"""A real liveblog server in a subprocess (uvicorn on a free loopback port), for e2e tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.helpers import Tokens, issue_tokens

STARTUP_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def liveblog_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "liveblog.cli", *args]


def run_cli(database_url: str, *args: str) -> str:
    """Run ``liveblog ARGS`` against ``database_url``; return its standard output."""
    env = {**os.environ, "LIVEBLOG_DATABASE_URL": database_url}
    done = subprocess.run(
        liveblog_command(*args), env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def create_token(database_url: str, name: str, role: str) -> str:
    output = run_cli(database_url, "token", "create", "--name", name, "--role", role)
    return output.strip().splitlines()[-1]


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 15 s."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class LiveServer:
    """``liveblog serve`` on 127.0.0.1:<port>; start() waits until /healthz answers."""

    database_url: str
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # More of the server's environment (LIVEBLOG_* limits and deadlines). Test servers
    # carry no write rate limit unless a test sets one: tests post far faster than a
    # person does.
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        env = {
            **os.environ,
            "LIVEBLOG_WRITE_RATE": "off",
            **self.env,
            "LIVEBLOG_DATABASE_URL": self.database_url,
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            liveblog_command("serve", "--host", "127.0.0.1", "--port", str(self.port)),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # polling a readiness probe, not waiting for an outcome
        self.stop()
        raise RuntimeError(f"server did not become ready:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def kill(self) -> None:
        """SIGKILL: no shutdown at all, as after a crash."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@dataclass(frozen=True)
class SharedServer:
    """One server and its tokens for a whole module of tests that change nothing."""

    server: LiveServer
    tokens: Tokens


# -- a server per test, on each backend ----------------------------------------------------

BACKENDS = ["sqlite", "postgresql"]


def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store of the backend a ``params=BACKENDS`` fixture names."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'liveblog.sqlite3'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


def served(database_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, Tokens]]:
    """A started server on ``database_url`` and the usual tokens; stopped at the end."""
    tokens = issue_tokens(database_url)
    live = LiveServer(database_url, tmp_path / "server.log").start()
    yield live, tokens
    live.stop()
