"""A rebuild's chunk writer in a second process, for a large rebuild on a SQLite file.

Writing a chunk's rows is as much work for SQLite as reading and decoding the chunk's
events. In a thread of the rebuilding process it overlaps the fold, but binding the rows'
parameters holds the GIL, which slowed the fold by about a fifth. In its own process it
uses the second core without taking anything from the fold.

Parent (``ProcessChunkWriter``) and child talk through two pipes wrapped in
``multiprocessing`` connections, which delimit each message (``send_bytes`` and
``recv_bytes``) and buffer nothing: a child that died shows as ``EOFError`` or
``BrokenPipeError`` at the call that met it, never later, when a pipe is closed. The
parent sends each packed chunk; the child writes it with ``ReadViews.write_chunk`` in a
transaction of its own and answers ``K`` once it is committed, or ``E`` and the error's
text, and exits. The end of the chunks (the parent closed its end, or went away) tells
the child to exit. Only committed chunks count: if either side stops half-way, the views
hold the last committed chunk's rows and positions, which a feed carries on from.

    python -m liveblog.rebuild_writer CHUNKS_FD ANSWERS_FD DB_NAME LOCK_TIMEOUT VIEW...
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection

from eventsourcing.sqlite import SQLiteDatastore

from liveblog.eventsourcing_adapter import caching_statements
from projections.views import Dialect, ReadViews

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
        chunks_in, chunks_out = os.pipe()
        answers_in, answers_out = os.pipe()
        _widen(chunks_out)
        argv = [sys.executable, "-m", __name__, str(chunks_in), str(answers_out), pool.db_name,
                str(pool.lock_timeout or 0), *names]  # fmt: skip
        # Its stderr goes to a file, not a pipe: a pipe nobody reads would block a child
        # that says more than the pipe holds (warnings, a long traceback).
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        try:
            self._child = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stderr=self._stderr,
                pass_fds=(chunks_in, answers_out),
            )  # fmt: skip
        finally:
            # The child's ends are the child's: with them closed here, the child's exit
            # ends the answers (EOFError), and the chunks go nowhere (BrokenPipeError).
            os.close(chunks_in)
            os.close(answers_out)
        self._chunks = Connection(chunks_out, readable=False)
        self._answers = Connection(answers_in, writable=False)
        # Chunks are written to the pipe by a thread of their own: a write of several MB
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

    def send(self, packed: bytes) -> None:
        self._feeding.append(self._feeder.submit(self._chunks.send_bytes, packed))

    def wait(self) -> None:
        if not self._feeding:
            return
        try:
            self._feeding.popleft().result()
            answer = self._answers.recv_bytes()
        except (OSError, EOFError) as error:  # BrokenPipeError among them
            raise self._gone() from error
        if answer == COMMITTED:
            return
        self._child.wait(CLOSE_SECONDS)  # it exits once it has reported
        message = answer.removeprefix(FAILED).decode(errors="replace")
        msg = f"writing the rebuilt views failed: {message}"
        raise RebuildWriteError(msg)

    def close(self) -> None:
        """End the child: it commits the chunk it is writing, if any, then exits.

        Nothing here raises: the child's exit code stays in ``returncode``, and a child
        that died before a chunk was committed was reported by the ``wait`` for it.
        """
        self._feeder.shutdown(wait=True)
        self._chunks.close()  # the end of the chunks: the child exits
        try:
            self._child.wait(CLOSE_SECONDS)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()
        self._answers.close()
        self._stderr.close()

    def _gone(self) -> RebuildWriteError:
        code = self._child.wait(CLOSE_SECONDS)
        self._stderr.seek(0)
        said = self._stderr.read().decode(errors="replace").strip()
        msg = f"the rebuild's writer process exited with code {code}" + (
            f": {said.splitlines()[-1]}" if said else ""
        )
        return RebuildWriteError(msg)


def _widen(fd: int) -> None:
    """Let the pipe hold 1 MiB instead of 64 KiB, where Linux allows it: a packed chunk of
    several MB then crosses in a few dozen wake-ups of the child instead of hundreds."""
    # On another system, or below a lower limit, the default works, a little slower.
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, F_SETPIPE_SZ, 1 << 20)


def serve(db_name: str, lock_timeout: int, names: Sequence[str], chunks: Connection,
          answers: Connection) -> int:  # fmt: skip
    """The child: write each packed chunk received on ``chunks`` until they end."""
    # The rows make many lists and no cycles: the cyclic GC would only walk them.
    gc.disable()
    datastore = caching_statements(
        SQLiteDatastore(db_name, lock_timeout=lock_timeout or None, pool_size=1)
    )
    views = ReadViews(datastore, Dialect("sqlite"))
    try:
        with views.rebuild_transactions() as transaction:
            while True:
                try:
                    packed = chunks.recv_bytes()
                except EOFError:
                    return 0  # the end: what the parent did not wait for is not ours
                try:
                    with transaction() as cursor:
                        views.write_chunk(cursor, names, packed)
                except Exception as error:  # reported to the parent, which raises it
                    answers.send_bytes(FAILED + f"{type(error).__name__}: {error}".encode())
                    return 1
                answers.send_bytes(COMMITTED)
    finally:
        datastore.close()


def main(argv: Sequence[str] | None = None) -> int:
    chunks_fd, answers_fd, db_name, lock_timeout, *names = sys.argv[1:] if argv is None else argv
    chunks = Connection(int(chunks_fd), writable=False)
    answers = Connection(int(answers_fd), readable=False)
    return serve(db_name, int(lock_timeout), names, chunks, answers)


if __name__ == "__main__":
    sys.exit(main())
