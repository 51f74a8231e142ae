"""``liveblog ARGS`` in this process, with its GC pauses and the write path's stages stamped.

    python -m scripts.benchmarks.trace FILE serve --host 127.0.0.1 --port P ...

The fan-out's ``--trace`` runs the project's server so, to find where its tail comes
from. Lines are appended to FILE by a daemon thread every 0.2 s (nothing is written on
the paths being measured), each ``<what> <monotonic ns> <value>``:

- ``gc <ns at the end> <generation>.<milliseconds>``: every cyclic-GC pause of 1 ms or more;
- ``<stage>+ <ns>`` and ``<stage>- <ns>``: the start and the end of a call of the
  functions in ``STAGES`` (the store's save waking the feed, the feed's batch, its
  views write, the hub's publishing on the event loop).

Only this bench's process is changed, by wrapping those functions at start-up; a name
that the code no longer has is reported on standard error and left out.
"""

from __future__ import annotations

import functools
import gc
import importlib
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

GC_LOG_MS = 1.0  # shorter pauses are not written
FLUSH_SECONDS = 0.2
# (module, class, method, stage): the write path, in the order a post goes through it.
STAGES = (
    ("liveblog.feed", "Feed", "wake", "saved"),
    ("liveblog.feed", "Feed", "_process", "batch"),
    ("liveblog.feed", "Feed", "_write_views", "views"),
    ("liveblog.live.hub", "Hub", "on_applied", "frames"),
    ("liveblog.live.hub", "Hub", "_publish", "publish"),
)


class Stamps:
    """Lines kept in memory and appended to a file by a thread of their own."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lines: deque[str] = deque()  # appended and taken from safely across threads
        self.gc_started = 0
        threading.Thread(target=self._flush_forever, name="bench-trace", daemon=True).start()

    def stamp(self, what: str, value: str = "") -> None:
        self.lines.append(f"{what} {time.monotonic_ns()} {value}")

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.gc_started = time.perf_counter_ns()
            return
        took_ms = (time.perf_counter_ns() - self.gc_started) / 1e6
        if took_ms >= GC_LOG_MS:
            self.stamp("gc", f"{info['generation']}.{took_ms:.3f}")

    def wrap(self, function: Callable[..., Any], stage: str) -> Callable[..., Any]:
        @functools.wraps(function)
        def stamped(*args: Any, **kwargs: Any) -> Any:
            self.stamp(f"{stage}+")
            try:
                return function(*args, **kwargs)
            finally:
                self.stamp(f"{stage}-")

        return stamped

    def _flush_forever(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)  # a server stopped by a signal runs no exit hooks
            lines = [self.lines.popleft() for _ in range(len(self.lines))]
            if lines:
                with open(self.path, "a") as sink:
                    sink.write("\n".join(lines) + "\n")


def install(path: str) -> Stamps:
    stamps = Stamps(path)
    gc.callbacks.append(stamps.on_gc)
    for module_name, class_name, method, stage in STAGES:
        owner = getattr(importlib.import_module(module_name), class_name, None)
        function = getattr(owner, method, None)
        if owner is None or function is None:
            print(f"trace: no {module_name}.{class_name}.{method}; not stamped", file=sys.stderr)
            continue
        setattr(owner, method, stamps.wrap(function, stage))
    return stamps


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m scripts.benchmarks.trace FILE LIVEBLOG-ARGS...", file=sys.stderr)
        return 2
    install(argv[0])
    from liveblog.cli import main as liveblog_main

    return liveblog_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
