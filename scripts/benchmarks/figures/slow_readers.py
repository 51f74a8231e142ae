"""What a reader that stops reading costs the server before it is dropped (DESIGN §7, §9).

    .venv/bin/python -m scripts.benchmarks.figures.slow_readers [--readers 20]
        [--bounds 2097152,262144]

For each ``LIVEBLOG_SLOW_READER_BYTES`` bound: ``liveblog serve`` on a fresh SQLite file,
``--readers`` WebSocket readers that finish the handshake and then never read again
(4 KiB receive buffers), and posts of about 20 KB until the server has dropped them all
as slow consumers. The server's RSS is sampled after every batch of posts; the same
posts are then made to a second server with no stalled reader (the control). Printed
per bound: posts until all were dropped, the most bytes the server held for one reader
when it dropped it (``/metrics``), and the peak RSS growth over the control, per reader.
The kernel's socket buffers are not the server's memory and are not counted.

Talks to 127.0.0.1 only; bounded (at most ``--max-posts`` posts per server).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from scripts.benchmarks.common import HOST, BenchError, Children, rss_kib
from scripts.benchmarks.servers import Project, start_project

SLOW = "liveblog_live_slow_readers_total"
HELD = "liveblog_live_slow_reader_pending_bytes_max"
BODY = "<p>" + "Protesters gathered outside the White House in Bishkek. " * 350 + "</p>"
BATCH = 10


@dataclass
class Outcome:
    posts: int
    held_max: float
    rss_growth_kib: int  # peak RSS minus RSS before the posts


def stalled_reader(port: int, path: str) -> socket.socket:
    """A WebSocket handshake by hand, then nothing is ever read again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: no scaling
    sock.settimeout(30)
    sock.connect((HOST, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):  # a byte at a time: no frame is read
        byte = sock.recv(1)
        if not byte:
            raise BenchError(f"the server closed during the handshake: {head!r}")
        head += byte
    if not head.startswith(b"HTTP/1.1 101"):
        raise BenchError(f"handshake answered {head[:100]!r}")
    return sock


@contextlib.contextmanager
def server(children: Children, work: Path, name: str, bound: int) -> Iterator[Project]:
    env = {"LIVEBLOG_SLOW_READER_BYTES": str(bound)}
    project = start_project(children, work, name, reporters=1, env=env)
    try:
        yield project
    finally:
        project.close()


def stalled_run(
    children: Children, work: Path, bound: int, readers: int, max_posts: int
) -> Outcome:
    with server(children, work, f"stalled-{bound}", bound) as project:
        story_id = project.open_story("stalled")
        socks = [
            stalled_reader(project.port, f"/api/stories/{story_id}/live") for _ in range(readers)
        ]
        try:
            before = rss_kib(project.pid)
            peak, posts = before, 0
            while project.metrics()[SLOW] < readers:
                if posts >= max_posts:
                    raise BenchError(f"{posts} posts and not every reader was dropped")
                for _ in range(BATCH):
                    project.post(story_id, BODY)
                posts += BATCH
                peak = max(peak, rss_kib(project.pid))
            return Outcome(posts, project.metrics()[HELD], peak - before)
        finally:
            for sock in socks:
                sock.close()


def control_run(children: Children, work: Path, bound: int, posts: int) -> int:
    with server(children, work, f"control-{bound}", bound) as project:
        story_id = project.open_story("control")
        before = rss_kib(project.pid)
        peak = before
        for done in range(posts):
            project.post(story_id, BODY)
            if done % BATCH == BATCH - 1:
                peak = max(peak, rss_kib(project.pid))
        return peak - before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--bounds", default=f"{2 * 1024 * 1024},{256 * 1024}")
    parser.add_argument("--max-posts", type=int, default=2_000)
    args = parser.parse_args()
    children = Children()
    print(f"{args.readers} stalled readers; posts of {len(BODY):,} bytes", flush=True)
    print("bound (bytes) | posts until all dropped | most held for one reader (bytes) |"
          " peak RSS growth, stalled - control (KiB) | per reader (KiB)")  # fmt: skip
    try:
        with tempfile.TemporaryDirectory(prefix="liveblog-slow-") as folder:
            work = Path(folder)
            for bound in (int(b) for b in args.bounds.split(",")):
                stalled = stalled_run(children, work, bound, args.readers, args.max_posts)
                control = control_run(children, work, bound, stalled.posts)
                extra = stalled.rss_growth_kib - control
                print(
                    f"{bound:,} | {stalled.posts} | {stalled.held_max:,.0f} |"
                    f" {stalled.rss_growth_kib:,} - {control:,} = {extra:,}"
                    f" | {extra / args.readers:,.0f}",
                    flush=True,
                )
    except BenchError as error:
        print(f"failed: {error}", file=sys.stderr)
        return 1
    finally:
        children.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
