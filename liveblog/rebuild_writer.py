"""A rebuild's chunk writer in a second process, for a large rebuild on a SQLite file.

Writing a chunk's rows is as much work for SQLite as reading and decoding the chunk's
events. In a thread of the rebuilding process it overlaps the fold, but binding the rows'
parameters holds the GIL, which slowed the fold by about a fifth. In its own process it
uses the second core without taking anything from the fold.

The parent (``ProcessChunkWriter``) sends each chunk's frame down the child's stdin as
an 8-byte big-endian length and the frame; a length of 0 says there are no more. The
child writes each frame with ``ReadViews.write_chunk`` in a transaction of its own and
answers ``K`` once it is committed, or ``E``, a length and the error's text, and exits.
Only committed chunks count: if either side stops half-way, the views hold the last
committed chunk's rows and positions, which a follower carries on from.

    python -m liveblog.rebuild_writer DB_NAME LOCK_TIMEOUT VIEW...    (the child)
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import struct
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any

from eventsourcing.sqlite import SQLiteDatastore

from liveblog.sqlite_store import caching_statements
from projections.views import Dialect, ReadViews

_LENGTH = struct.Struct(">Q")
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # Linux's number; Python 3.10+ names it
COMMITTED = b"K"
FAILED = b"E"
# How long ``close`` lets the child finish the chunk it is writing before killing it.
CLOSE_SECONDS = 60.0


class RebuildWriteError(RuntimeError):
    """The child writing a rebuild's chunks failed or went away."""


def sqlite_file_of(views: ReadViews) -> SQLiteDatastore | None:
    """The views' datastore if it is a SQLite file another process can open, else None."""
    datastore = views.datastore
    if not isinstance(datastore, SQLiteDatastore) or datastore.pool.is_sqlite_memory_mode:
        return None
    return datastore


class ProcessChunkWriter:
    """A ``projections.views.ChunkWriter`` whose chunks a child process writes."""

    def __init__(self, datastore: SQLiteDatastore, names: Sequence[str]) -> None:
        pool = datastore.pool
        argv = [sys.executable, "-m", __name__, pool.db_name, str(pool.lock_timeout or 0),
                *names]  # fmt: skip
        # Its stderr goes to a file, not a pipe: a pipe nobody reads would block a child
        # that says more than the pipe holds (warnings, a long traceback).
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self._child = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr
        )
        assert self._child.stdin is not None
        _widen(self._child.stdin)
        # Frames are written to the pipe by a thread of their own: a write of several MB
        # lets go of the GIL, so the fold goes on meanwhile.
        self._feeder = ThreadPoolExecutor(1, thread_name_prefix="liveblog-rebuild-feed")
        self._feeding: deque[Future[None]] = deque()  # one per chunk not waited for

    @property
    def pid(self) -> int:
        return self._child.pid

    @property
    def returncode(self) -> int | None:
        """The child's exit code, None while it runs."""
        return self._child.poll()

    def send(self, frame: bytes) -> None:
        self._feeding.append(self._feeder.submit(self._feed, frame))

    def _feed(self, frame: bytes) -> None:
        pipe = self._child.stdin
        assert pipe is not None
        pipe.write(_LENGTH.pack(len(frame)))
        pipe.write(frame)
        pipe.flush()

    def wait(self) -> None:
        if not self._feeding:
            return
        try:
            self._feeding.popleft().result()
        except OSError as error:  # BrokenPipeError among them
            raise self._gone() from error
        answers = self._child.stdout
        assert answers is not None
        answer = answers.read(1)
        if answer == COMMITTED:
            return
        if answer == FAILED:
            (length,) = _LENGTH.unpack(_read_exactly(answers, _LENGTH.size))
            message = _read_exactly(answers, length).decode(errors="replace")
            self._child.wait(CLOSE_SECONDS)
            msg = f"writing the rebuilt views failed: {message}"
            raise RebuildWriteError(msg)
        raise self._gone()

    def close(self) -> None:
        """End the child: it commits the chunk it is writing, if any, then exits."""
        self._feeder.shutdown(wait=True)
        child = self._child
        if child.poll() is None:
            try:
                assert child.stdin is not None
                child.stdin.write(_LENGTH.pack(0))
                child.stdin.close()
            except (BrokenPipeError, OSError):
                pass  # it has gone already
            try:
                child.wait(CLOSE_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for pipe in (child.stdin, child.stdout):
            if pipe is not None and not pipe.closed:
                # Closing flushes what is still buffered: to a child that died, that
                # raises BrokenPipeError, and the caller is already reporting its death.
                with contextlib.suppress(OSError):
                    pipe.close()
        self._stderr.close()

    def _gone(self) -> RebuildWriteError:
        code = self._child.wait(CLOSE_SECONDS)
        self._stderr.seek(0)
        said = self._stderr.read().decode(errors="replace").strip()
        msg = f"the rebuild's writer process exited with code {code}" + (
            f": {said.splitlines()[-1]}" if said else ""
        )
        return RebuildWriteError(msg)


def _widen(pipe: IO[bytes]) -> None:
    """Let the pipe hold 1 MiB instead of 64 KiB, where Linux allows it: a frame of
    several MB then crosses in a few dozen wake-ups of the child instead of hundreds."""
    # On another system, or below a lower limit, the default works, a little slower.
    with contextlib.suppress(OSError):
        fcntl.fcntl(pipe.fileno(), F_SETPIPE_SZ, 1 << 20)


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        msg = f"the stream ended after {len(data)} of {size} bytes"
        raise EOFError(msg)
    return data


def serve(db_name: str, lock_timeout: int, names: Sequence[str], frames: IO[bytes],
          answers: IO[bytes]) -> int:  # fmt: skip
    """The child: write each frame read from ``frames`` until a length of 0 or the end."""
    # The rows make many lists and no cycles: the cyclic GC would only walk them.
    gc.disable()
    datastore = caching_statements(
        SQLiteDatastore(db_name, lock_timeout=lock_timeout or None, pool_size=1)
    )
    views = ReadViews(datastore, Dialect("sqlite"))
    try:
        with views.rebuild_transactions() as transaction:
            while True:
                header = frames.read(_LENGTH.size)
                if len(header) < _LENGTH.size:
                    return 0  # the parent went away: what it did not wait for is not ours
                (length,) = _LENGTH.unpack(header)
                if length == 0:
                    return 0
                frame = _read_exactly(frames, length)
                try:
                    with transaction() as cursor:
                        views.write_chunk(cursor, names, frame)
                except Exception as error:  # reported to the parent, which raises it
                    _report(answers, error)
                    return 1
                answers.write(COMMITTED)
                answers.flush()
    finally:
        datastore.close()


def _report(answers: IO[bytes], error: Any) -> None:
    text = f"{type(error).__name__}: {error}".encode()
    answers.write(FAILED + _LENGTH.pack(len(text)) + text)
    answers.flush()


def main(argv: Sequence[str] | None = None) -> int:
    db_name, lock_timeout, *names = sys.argv[1:] if argv is None else argv
    return serve(db_name, int(lock_timeout), names, sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    sys.exit(main())
