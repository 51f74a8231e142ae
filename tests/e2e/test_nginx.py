"""Two processes behind nginx, one killed with ``kill -9`` (DESIGN §6, §9).

nginx runs docs/nginx-liveblog.conf (addresses changed only) in the foreground, on a
free loopback port. 100 readers connect through it; posts go on through it while one
process is killed; readers that lose their connection reconnect through nginx with
``since`` and land on the other process. At the end every reader has every version
exactly once, and every acknowledged post is in the story once.

nginx is found through ``LIVEBLOG_TEST_NGINX`` (a path), ``PATH`` or /usr/sbin/nginx.
Without it the test is skipped, saying so, unless ``CI`` is set: then it fails
(``.ci/run`` installs nginx).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from tests.e2e.server import LiveServer, free_port, stop_process
from tests.helpers import bearer, issue_token

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "docs" / "nginx-liveblog.conf"
READERS = 100
POSTS = 60
KILL_AFTER = 20  # acknowledged posts before one process is killed
SLUG = "behind-nginx"
STEP_TIMEOUT = 30.0
TEST_DEADLINE = 180.0


def find_nginx() -> str:
    """nginx's path, or skip (fail under CI: there it must run)."""
    candidates = [os.environ.get("LIVEBLOG_TEST_NGINX"), shutil.which("nginx"), "/usr/sbin/nginx"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    message = (
        "nginx not found: set LIVEBLOG_TEST_NGINX to its path or install it "
        "(apt-get install nginx-light); .ci/run installs it"
    )
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def nginx_config(tmp: Path, port: int, backends: list[int]) -> Path:
    """The documented config, listening on ``port`` and proxying to ``backends``."""
    site = CONFIG.read_text()
    servers = re.findall(r"^\s*server 127\.0\.0\.1:\d+ .*$", site, re.MULTILINE)
    assert len(servers) == len(backends) == 2, servers
    for line, backend in zip(servers, backends, strict=True):
        site = site.replace(line, re.sub(r":\d+", f":{backend}", line, count=1))
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    (tmp / "liveblog.conf").write_text(site)
    temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    for name in temp:
        (tmp / f"{name}_temp").mkdir(exist_ok=True)
    main = "\n".join([
        # As root, workers would switch to "nobody", who cannot enter pytest's folders.
        "user root;" if os.geteuid() == 0 else "",
        "worker_processes 1;",
        f"pid {tmp / 'nginx.pid'};",
        f"error_log {tmp / 'error.log'} warn;",
        "events { worker_connections 1024; }",
        "http {",
        f"  access_log {tmp / 'access.log'};",
        *(f"  {name}_temp_path {tmp / (name + '_temp')};" for name in temp),
        f"  include {tmp / 'liveblog.conf'};",
        "}",
    ])  # fmt: skip
    path = tmp / "nginx.conf"
    path.write_text(main + "\n")
    return path


@dataclass
class Nginx:
    binary: str
    config: Path
    prefix: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Nginx:
        test = subprocess.run(
            [self.binary, "-t", *self._args()], capture_output=True, text=True, timeout=30,
            check=False,
        )  # fmt: skip
        assert test.returncode == 0, test.stderr
        log = (self.prefix / "nginx.out").open("ab")
        self.process = subprocess.Popen(
            [self.binary, *self._args(), "-g", "daemon off;"], stdout=log, stderr=log
        )
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.prefix / "error.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # polling until nginx listens, with a deadline
        raise AssertionError("nginx did not start listening")

    def _args(self) -> list[str]:
        return [
            "-p",
            str(self.prefix),
            "-c",
            str(self.config),
            "-e",
            str(self.prefix / "error.log"),
        ]

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


@dataclass
class Deployment:
    nginx: Nginx
    servers: list[LiveServer]
    editor: str
    reporter: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.nginx.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.nginx.port}"


@pytest.fixture
def deployment(fresh_postgres_url: str, tmp_path: Path) -> Iterator[Deployment]:
    binary = find_nginx()
    editor = issue_token(fresh_postgres_url, "Erin Editor", "editor")
    reporter = issue_token(fresh_postgres_url, "Rashid Reporter", "reporter")
    # nginx reaches the processes from 127.0.0.1: the proxy they believe.
    env = {"LIVEBLOG_TRUSTED_PROXIES": "127.0.0.1"}
    servers = [
        LiveServer(fresh_postgres_url, tmp_path / f"server-{n}.log", env=env) for n in range(2)
    ]
    nginx = Nginx(
        binary,
        nginx_config(tmp_path, port := free_port(), [s.port for s in servers]),
        tmp_path,
        port,
    )
    try:
        for server in servers:
            server.start()
        nginx.start()
        yield Deployment(nginx, servers, editor, reporter)
    finally:
        nginx.stop()
        for server in servers:
            server.stop()


@dataclass
class Reader:
    """One reader through nginx: the versions it got, over all its connections."""

    number: int
    versions: list[int] = field(default_factory=list)
    snapshots: list[int] = field(default_factory=list)
    connections: int = 0
    resets: int = 0

    @property
    def last(self) -> int | None:
        return self.versions[-1] if self.versions else None


async def read(deployment: Deployment, reader: Reader, wanted: asyncio.Future[int]) -> None:
    """Read until the final version is known and reached; reconnect with ``since``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TEST_DEADLINE
    while not (wanted.done() and reader.last == wanted.result()):
        assert loop.time() < deadline, f"reader {reader.number} stuck at {reader.last}"
        since = "" if reader.last is None else f"?since={reader.last}"
        url = f"{deployment.ws_url}/api/stories/{SLUG}/live{since}"
        try:
            async with connect(
                url, proxy=None, compression=None, open_timeout=STEP_TIMEOUT, max_size=2**24
            ) as ws:
                reader.connections += 1
                while not (wanted.done() and reader.last == wanted.result()):
                    text = await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
                    message = orjson.loads(text)
                    if message["type"] == "snapshot":
                        reader.resets += bool(message.get("reset"))
                        reader.snapshots.append(message["version"])
                        reader.versions.append(message["version"])
                    elif message["type"] == "event":
                        reader.versions.append(message["version"])
        except (ConnectionClosed, InvalidHandshake, InvalidStatus, OSError, TimeoutError):
            await asyncio.sleep(0.1)  # back off before reconnecting, as the page does


async def post_all(
    deployment: Deployment, acknowledged: dict[str, int], kill_when: asyncio.Event
) -> int:
    """Post POSTS updates, each retried with its Idempotency-Key until acknowledged."""
    headers = bearer(deployment.reporter)
    newest = 0
    async with httpx.AsyncClient(base_url=deployment.base_url, timeout=STEP_TIMEOUT) as http:
        for n in range(POSTS):
            key = str(uuid4())
            deadline = asyncio.get_running_loop().time() + STEP_TIMEOUT * 2
            while True:
                assert asyncio.get_running_loop().time() < deadline, f"post {n} never acknowledged"
                with contextlib.suppress(httpx.TransportError):
                    response = await http.post(
                        f"/api/stories/{SLUG}/updates",
                        json={"body": f"<p>Bulletin {n} from the square.</p>"},
                        headers={**headers, "Idempotency-Key": key},
                    )
                    if response.status_code == 201:
                        update = response.json()
                        acknowledged[update["id"]] = update["story_version"]
                        newest = max(newest, update["story_version"])
                        break
                    # 502/503/504: the process died under it; anything else is a bug.
                    assert response.status_code in (502, 503, 504), response.text
                await asyncio.sleep(0.1)  # back off before the retry, as a reporter's phone
            if len(acknowledged) == KILL_AFTER:
                kill_when.set()
    return newest


async def test_readers_behind_nginx_resume_on_the_other_process_after_kill_9(
    deployment: Deployment,
) -> None:
    async with httpx.AsyncClient(base_url=deployment.base_url, timeout=STEP_TIMEOUT) as http:
        response = await http.post(
            "/api/stories",
            json={"slug": SLUG, "title": "Square, live"},
            headers=bearer(deployment.editor),
        )
        assert response.status_code == 201, response.text

    wanted: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    readers = [Reader(n) for n in range(READERS)]
    reading = [asyncio.ensure_future(read(deployment, r, wanted)) for r in readers]
    try:
        # Everyone connected (through nginx, spread over both processes) before posting.
        deadline = asyncio.get_running_loop().time() + STEP_TIMEOUT * 2
        while not all(r.versions for r in readers):
            assert asyncio.get_running_loop().time() < deadline, "readers did not connect"
            await asyncio.sleep(0.05)  # polling until a deadline
        acknowledged: dict[str, int] = {}
        kill_when = asyncio.Event()
        posting = asyncio.ensure_future(post_all(deployment, acknowledged, kill_when))
        await asyncio.wait_for(kill_when.wait(), TEST_DEADLINE)
        victim = deployment.servers[1]
        assert victim.process is not None
        victim.process.kill()  # kill -9, by its pid
        victim.process.wait()
        newest = await asyncio.wait_for(posting, TEST_DEADLINE)
        wanted.set_result(newest)
        await asyncio.wait_for(asyncio.gather(*reading), TEST_DEADLINE)
    finally:
        for task in reading:
            task.cancel()
        await asyncio.gather(*reading, return_exceptions=True)

    # Every acknowledged post once, none twice: versions 2..newest are exactly them.
    assert len(acknowledged) == POSTS
    assert sorted(acknowledged.values()) == list(range(2, newest + 1))
    async with httpx.AsyncClient(base_url=deployment.base_url, timeout=STEP_TIMEOUT) as http:
        response = await http.get(
            f"/api/stories/{SLUG}/events",
            params={"after": 0, "limit": 1000},
            headers=bearer(deployment.editor),
        )
        assert response.status_code == 200, response.text
        events = response.json()["events"]
    posted = [e for e in events if e["type"] == "update.posted"]
    assert [e["version"] for e in events] == list(range(1, newest + 1))
    assert len(posted) == POSTS

    # Every reader: one snapshot, then each version after it exactly once, to the end.
    moved = 0
    for reader in readers:
        assert reader.resets == 0, f"reader {reader.number} was reset"
        assert len(reader.snapshots) == 1, reader.snapshots
        start = reader.snapshots[0]
        assert reader.versions == list(range(start, newest + 1)), reader.number
        moved += reader.connections > 1
    # The killed process had its share of the readers; they all moved.
    assert moved >= 1, "no reader was on the killed process"
    print(f"\n{moved} of {READERS} readers resumed on the surviving process")
