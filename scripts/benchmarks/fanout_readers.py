"""The fan-out's load client: N readers that stamp every message as it arrives.

    python -m scripts.benchmarks.fanout_readers --url URL --readers N --posts P
        [--first 2] [--batch 200] --out FILE --deadline S

It connects the readers (websockets client, no compression) in batches, waits until each
has its ``--first`` messages (the project's snapshot and ``live``, or the baseline's
hello), says ``READY``, then stamps every message with ``time.monotonic_ns()`` (one
clock for every process on Linux) and says ``COMPLETE`` once P messages per reader have
come. On ``STOP`` (or at the deadline) it writes, per reader, each numbered post's
sequence number, stamp and size to ``--out`` and says ``DONE``.

It runs on uvloop when installed, as uvicorn does, and freezes and disables its own
cyclic GC once its readers are connected, so that its pauses do not land in the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from scripts.benchmarks.common import SEQ_RE, emit, raise_nofile, read_stdin_line, run_client

OPEN_TIMEOUT = 60.0  # one reader's handshake
FIRST_MESSAGES_TIMEOUT = 60.0  # one reader's first messages after its handshake
BATCH_TIMEOUT = 120.0  # a whole batch of readers ready


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


async def client_main(args: argparse.Namespace) -> dict[str, Any] | None:
    """Connect, say READY, wait for STOP (or the deadline); the results, or None on failure."""
    readers: int = args.readers
    started = time.monotonic()
    deadline = started + args.deadline
    limit = raise_nofile(readers + 256)
    if limit < readers + 64:
        emit(f"FAILED open-file limit {limit} is too low for {readers} readers")
        return None
    tally = Tally(expected=readers * args.posts)
    logs = [ReaderLog() for _ in range(readers)]
    tasks: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()
    for start in range(0, readers, args.batch):
        batch: list[asyncio.Future[bool]] = []
        for index in range(start, min(readers, start + args.batch)):
            ready: asyncio.Future[bool] = loop.create_future()
            batch.append(ready)
            reader = run_reader(args.url, args.first, logs[index], ready, tally)
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


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="the fan-out's stamping readers")
    parser.add_argument("--url", required=True)
    parser.add_argument("--readers", type=int, required=True)
    parser.add_argument("--posts", type=int, required=True, help="numbered posts to expect")
    parser.add_argument("--first", type=int, default=1, help="messages before READY")
    parser.add_argument("--batch", type=int, default=200, help="readers connecting at once")
    parser.add_argument("--out", required=True, help="results JSON")
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds, then exit")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    run_client(client_main(args), args.out)


if __name__ == "__main__":
    main()
