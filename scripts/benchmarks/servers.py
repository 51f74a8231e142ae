"""The servers a workload measures: ``liveblog serve`` (the project) and the bare baselines.

Each is a child process on a free loopback port, registered with the run's ``Children``
and started once it answers ``/healthz``.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.sync.client import connect as sync_connect

from scripts.benchmarks.children import Client, run_clients, spawn_server
from scripts.benchmarks.common import FILLER, HOST, BenchError, Children, free_port

REQUEST_TIMEOUT = 60.0


def live_url(port: int, story_id: str) -> str:
    return f"ws://{HOST}:{port}/api/stories/{story_id}/live"


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

    def post(self, story_id: str, body: str, reporter: int = 0) -> dict[str, Any]:
        """One update, posted on the driver's connection; it must answer 201."""
        status, _, data = self.request(
            "POST", f"/api/stories/{story_id}/updates", {"body": body},
            {"Authorization": f"Bearer {self.reporters[reporter]}"},
        )  # fmt: skip
        if status != 201:
            raise BenchError(f"a post answered {status}: {data[:200]!r}")
        answer: dict[str, Any] = json.loads(data)
        return answer

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


def start_project(
    children: Children,
    work: Path,
    name: str,
    reporters: int = 8,
    *,
    ws: str | None = None,
    traced: Path | None = None,
    env: dict[str, str] | None = None,
) -> Project:
    """``liveblog serve`` on a fresh SQLite file in ``work``.

    ``ws`` is passed on as ``--ws``; with ``traced``, the server runs under
    ``scripts.benchmarks.trace``, which writes its GC pauses and stage stamps there.
    """
    database = work / f"{name}.sqlite3"
    editor, tokens = issue_tokens(database, reporters)
    # Thousands of readers from 127.0.0.1, and reporters who post far faster than
    # people do: no per-address limit and no write rate limit for the bench.
    server_env = {
        **os.environ,
        "LIVEBLOG_DATABASE_URL": f"sqlite:///{database}",
        "LIVEBLOG_MAX_CONNECTIONS_PER_ADDRESS": "0",
        "LIVEBLOG_WRITE_RATE": "off",
        **(env or {}),
    }
    port = free_port()
    run = [sys.executable, "-m", "liveblog.cli"]
    if traced is not None:
        run = [sys.executable, "-m", "scripts.benchmarks.trace", str(traced)]
    argv = [*run, "serve", "--host", HOST, "--port", str(port), "--log-level", "warning"]
    if ws:
        argv += ["--ws", ws]
    server = spawn_server(children, argv, work / f"{name}.log", port, server_env)
    print(f"    {name}: liveblog serve pid {server.pid} on port {port}", flush=True)
    return Project(server, port, editor, tokens, work, name)


def start_baseline(
    children: Children, work: Path, name: str, mode: str, *options: str
) -> tuple[subprocess.Popen[Any], int]:
    """A bare server of ``scripts.benchmarks.baselines`` in ``mode``, and its port."""
    port = free_port()
    argv = [
        sys.executable, "-m", "scripts.benchmarks.baselines", "--port", str(port),
        mode, *options,
    ]  # fmt: skip
    server = spawn_server(children, argv, work / f"{name}.log", port)
    print(f"    {name}: {mode} baseline pid {server.pid} on port {port}", flush=True)
    return server, port


def start_ws_baseline(
    children: Children, work: Path, name: str, messages: Sequence[str], mode: str = "ws"
) -> tuple[subprocess.Popen[Any], int]:
    """A bare server sending ``messages`` on connect, at ``ws://HOST:port/live``.

    ``mode``: ``ws`` (plain websockets) or ``starlette-ws`` (starlette on uvicorn with
    liveblog's ``server_config``, the same ``--ws`` as ``liveblog serve``'s default).
    """
    file = work / f"{name}-messages.json"
    file.write_text(json.dumps(list(messages)))
    return start_baseline(children, work, name, mode, "--messages", str(file))


def ws_messages(url: str, count: int) -> list[str]:
    """The first ``count`` text messages a fresh reader of ``url`` receives."""
    with sync_connect(url, compression=None, proxy=None, open_timeout=REQUEST_TIMEOUT) as ws:
        return [str(ws.recv(timeout=REQUEST_TIMEOUT)) for _ in range(count)]
