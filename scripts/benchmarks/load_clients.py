"""Load clients for ``scripts/bench``: each runs in its own process, on 127.0.0.1 only.

    python -m scripts.benchmarks.load_clients ws   --url URL --readers N [--since-file F] ...
    python -m scripts.benchmarks.load_clients get  --port P --path PATH --conns 50 ...
    python -m scripts.benchmarks.load_clients post --port P --path PATH --tokens F --posts N

Every client speaks the same small protocol with the driver on stdin/stdout: it prints
``PREPARED`` once set up, starts on ``GO``, writes its results as JSON to ``--out`` and
prints ``DONE``. A ``ws --hold`` client then keeps its readers connected until ``STOP``.
Each is bounded twice: by its counts, and by ``--deadline`` (a watchdog ends the process).
The clients run on uvloop when it is installed and keep the cyclic GC off while they
measure (what they allocate is bounded by their counts), so their own pauses stay out of
the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from scripts.benchmarks.common import (
    HOST,
    emit,
    percentile,
    raise_nofile,
    read_stdin_line,
    run_client,
)

STEP_TIMEOUT = 60.0  # one handshake, one message, one HTTP response
# Frames are orjson objects whose first keys are "type" then "version" (liveblog.live.frames
# and the baselines send the same bytes): reading the prefix is enough to check order.
PREFIX_RE = re.compile(rb'^\{"type":"(\w+)","version":(\d+)')


def start_watchdog(seconds: float) -> None:
    """End this process after ``seconds`` whatever it is doing: clients stop by themselves."""
    timer = threading.Timer(seconds, os._exit, (3,))
    timer.daemon = True
    timer.start()


async def wait_for_word(word: str, deadline: float) -> bool:
    """True once the driver said ``word``; False at EOF or at the deadline."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            line = await asyncio.wait_for(read_stdin_line(), remaining)
        except TimeoutError:
            return False
        if not line:
            return False
        if line.strip() == word:
            return True


def load_json(path: str) -> Any:
    """Small files (a few KiB) read before the measured part: blocking is harmless."""
    return json.loads(Path(path).read_text())


def save_json(path: str, data: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(data))


def cpu_share(cpu: float, wall: float) -> float:
    """Percent of one core."""
    return 100 * cpu / wall if wall > 0 else 0.0


# -- WebSocket readers ------------------------------------------------------------------------


@dataclass
class ReaderRecord:
    since: int | None
    started: int = 0  # monotonic ns: before the handshake
    done: int = 0  # monotonic ns: the awaited message arrived
    kinds: list[str] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    error: str | None = None


def parse_prefix(data: bytes) -> tuple[str, int]:
    match = PREFIX_RE.match(data)
    if match is not None:
        return match.group(1).decode(), int(match.group(2))
    message = json.loads(data)
    return str(message.get("type")), int(message.get("version") or 0)


async def run_ws_reader(
    url: str, record: ReaderRecord, args: argparse.Namespace, gate: asyncio.Semaphore,
    held: list[ClientConnection],
) -> None:  # fmt: skip
    """Connect, read until the awaited message (the ``first`` one, or ``live``), then hold."""
    if record.since is not None:
        url = f"{url}?since={record.since}"
    try:
        async with gate:  # at most --concurrency readers joining at once
            record.started = time.monotonic_ns()
            ws = await connect(
                url, compression=None, proxy=None, user_agent_header=None,
                open_timeout=STEP_TIMEOUT, ping_interval=None, close_timeout=1,
                max_size=2**24,
            )  # fmt: skip
            held.append(ws)
            while True:
                data = await asyncio.wait_for(ws.recv(decode=False), STEP_TIMEOUT)
                kind, version = parse_prefix(data)
                record.kinds.append(kind)
                record.versions.append(version)
                if (args.until == "live" and kind == "live") or (
                    args.until == "first" and len(record.kinds) >= args.first
                ):
                    break
            record.done = time.monotonic_ns()
    except Exception as error:
        record.error = f"{type(error).__name__}: {error}"[:200]


def verify_resume(record: ReaderRecord, newest: int) -> str | None:
    """What is wrong with a resumed stream: it must be since+1..newest, then live."""
    if record.error is not None or record.since is None:
        return record.error or "no since"
    want = list(range(record.since + 1, newest + 1))
    kinds, versions = record.kinds, record.versions
    if kinds[:-1] != ["event"] * len(want) or versions[:-1] != want:
        got = f"{kinds[0]} {versions[0]} … {len(kinds)} messages" if kinds else "nothing"
        return f"since {record.since}: want events {want[:1]}..{want[-1:]}, got {got}"
    if kinds[-1] != "live" or versions[-1] != newest:
        return f"since {record.since}: ended with {kinds[-1]} {versions[-1]}, not live {newest}"
    return None


def ws_results(records: Sequence[ReaderRecord], args: argparse.Namespace) -> dict[str, Any]:
    done = [r for r in records if r.error is None and r.done]
    errors = Counter(r.error for r in records if r.error is not None)
    latencies = [(r.done - r.started) / 1e6 for r in done]
    results: dict[str, Any] = {
        "readers": len(records),
        "ok": len(done),
        "errors": dict(errors.most_common(5)),
        "first_start": min((r.started for r in records if r.started), default=0),
        "last_done": max((r.done for r in done), default=0),
        "join_p50_ms": percentile(latencies, 50),
        "join_p99_ms": percentile(latencies, 99),
        "messages": sum(len(r.kinds) for r in records),
    }
    if args.newest:
        problems = [p for p in (verify_resume(r, args.newest) for r in records) if p]
        results["verified"] = len(records) - len(problems)
        results["problems"] = problems[:5]
    return results


async def ws_main(args: argparse.Namespace) -> dict[str, Any] | None:
    raise_nofile(args.readers + 256)
    since: list[int | None] = [None] * args.readers
    if args.since_file:
        since = list(load_json(args.since_file))
    records = [ReaderRecord(since=s) for s in since[: args.readers]]
    held: list[ClientConnection] = []
    gate = asyncio.Semaphore(args.concurrency)
    deadline = time.monotonic() + args.deadline
    emit("PREPARED")
    if not await wait_for_word("GO", deadline):
        return None
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.gather(*(run_ws_reader(args.url, r, args, gate, held) for r in records))
    results = ws_results(records, args)
    results["cpu_share"] = cpu_share(time.process_time() - cpu, time.monotonic() - wall)
    save_json(args.out, results)
    emit("DONE")
    if args.hold:
        await wait_for_word("STOP", deadline)
    return results


# -- HTTP/1.1 keep-alive ----------------------------------------------------------------------


class Http:
    """One keep-alive HTTP/1.1 connection on raw asyncio streams (no library in the way)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Http:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)

    async def call(self, request: bytes) -> tuple[int, bytes]:
        """Send one request; the status and body of its response (Content-Length framed)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        at = head.lower().find(b"\r\ncontent-length:")
        length = 0 if at < 0 else int(head[at + 17 : head.index(b"\r\n", at + 2)])
        body = await self.reader.readexactly(length) if length else b""
        return status, body


def request_bytes(method: str, port: int, path: str, headers: Sequence[str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", *headers]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class GetTally:
    statuses: Counter[int] = field(default_factory=Counter)
    counted: int = 0
    body_bytes: int = 0


async def get_connection(
    args: argparse.Namespace, request: bytes, tally: GetTally, bounds: tuple[float, float]
) -> None:
    """Requests back to back until the window closes; count those completed inside it."""
    start, end = bounds
    conn = await Http.open(args.port)
    while True:
        status, body = await conn.call(request)
        now = time.monotonic()
        if now >= end:
            break
        if now >= start:
            tally.statuses[status] += 1
            tally.counted += 1
            tally.body_bytes += len(body)
    conn.writer.close()


async def get_main(args: argparse.Namespace) -> dict[str, Any] | None:
    request = request_bytes("GET", args.port, args.path, args.header, b"")
    tally = GetTally()
    deadline = time.monotonic() + args.deadline
    emit("PREPARED")
    if not await wait_for_word("GO", deadline):
        return None
    start = time.monotonic() + args.warmup
    end = start + args.seconds
    samples: dict[str, float] = {}

    async def mark() -> None:
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        samples["cpu0"] = time.process_time()
        emit("MEASURING")
        await asyncio.sleep(max(0.0, end - time.monotonic()))
        samples["cpu1"] = time.process_time()
        emit("MEASURED")

    marker = asyncio.ensure_future(mark())
    conns = [get_connection(args, request, tally, (start, end)) for _ in range(args.conns)]
    outcomes = await asyncio.gather(*conns, return_exceptions=True)
    await marker
    errors = Counter(f"{type(o).__name__}: {o}" for o in outcomes if isinstance(o, BaseException))
    return {
        "requests": tally.counted,
        "rps": tally.counted / args.seconds,
        "statuses": {str(k): v for k, v in tally.statuses.items()},
        "mean_body": tally.body_bytes / tally.counted if tally.counted else 0,
        "errors": dict(errors.most_common(5)),
        "cpu_share": cpu_share(samples["cpu1"] - samples["cpu0"], args.seconds),
    }


async def post_reporter(
    args: argparse.Namespace, token: str, seqs: range, latencies: list[float],
    statuses: Counter[int],
) -> None:  # fmt: skip
    """One reporter: its share of the posts, one at a time on one keep-alive connection."""
    conn = await Http.open(args.port)
    auth = f"Authorization: Bearer {token}"
    for seq in seqs:
        body = json.dumps({"body": f"{args.body_prefix} seq={seq:06d} {args.filler}"}).encode()
        headers = [auth, "Content-Type: application/json", f"Idempotency-Key: bench-{seq}"]
        request = request_bytes("POST", args.port, args.path, headers, body)
        sent = time.monotonic()
        status, _ = await asyncio.wait_for(conn.call(request), STEP_TIMEOUT)
        latencies.append((time.monotonic() - sent) * 1000)
        statuses[status] += 1
    conn.writer.close()


async def post_main(args: argparse.Namespace) -> dict[str, Any] | None:
    tokens: list[str] = load_json(args.tokens)
    deadline = time.monotonic() + args.deadline
    emit("PREPARED")
    if not await wait_for_word("GO", deadline):
        return None
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    stop = args.first_seq + args.posts
    shares = [range(args.first_seq + i, stop, len(tokens)) for i in range(len(tokens))]
    reporters = [
        post_reporter(args, token, share, latencies, statuses)
        for token, share in zip(tokens, shares, strict=True)
    ]
    cpu, wall = time.process_time(), time.monotonic()
    outcomes = await asyncio.gather(*reporters, return_exceptions=True)
    seconds = time.monotonic() - wall
    errors = Counter(f"{type(o).__name__}: {o}" for o in outcomes if isinstance(o, BaseException))
    return {
        "posts": len(latencies),
        "seconds": seconds,
        "rate": len(latencies) / seconds if seconds > 0 else 0.0,
        "statuses": {str(k): v for k, v in statuses.items()},
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "errors": dict(errors.most_common(5)),
        "cpu_share": cpu_share(time.process_time() - cpu, seconds),
    }


# -- entry point ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="load clients of scripts/bench")
    parser.add_argument("--out", required=True, help="results JSON")
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds, then exit")
    modes = parser.add_subparsers(dest="mode", required=True)
    ws = modes.add_parser("ws", help="WebSocket readers")
    ws.add_argument("--url", required=True)
    ws.add_argument("--readers", type=int, required=True)
    ws.add_argument("--concurrency", type=int, default=200, help="readers joining at once")
    ws.add_argument("--until", choices=["first", "live"], default="first")
    ws.add_argument("--first", type=int, default=1, help="messages to wait for (until first)")
    ws.add_argument("--since-file", help="JSON list: each reader's ?since=")
    ws.add_argument("--newest", type=int, default=0, help="verify resumes up to this version")
    ws.add_argument("--hold", action="store_true", help="stay connected until STOP")
    get = modes.add_parser("get", help="GET one path on keep-alive connections")
    get.add_argument("--port", type=int, required=True)
    get.add_argument("--path", required=True)
    get.add_argument("--header", action="append", default=[], help="'Name: value'")
    get.add_argument("--conns", type=int, default=50)
    get.add_argument("--seconds", type=float, default=10.0)
    get.add_argument("--warmup", type=float, default=1.0)
    post = modes.add_parser("post", help="reporters posting updates")
    post.add_argument("--port", type=int, required=True)
    post.add_argument("--path", required=True)
    post.add_argument("--tokens", required=True, help="JSON list: one token per reporter")
    post.add_argument("--posts", type=int, required=True)
    post.add_argument("--first-seq", type=int, default=0)
    post.add_argument("--body-prefix", default="bench")
    post.add_argument("--filler", default="")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    start_watchdog(args.deadline + 5)
    gc.disable()  # bounded by the counts; see the module docstring
    mains = {"ws": ws_main, "get": get_main, "post": post_main}
    # A ws client writes its results itself, before it holds its readers.
    run_client(mains[args.mode](args), None if args.mode == "ws" else args.out)


if __name__ == "__main__":
    main()
