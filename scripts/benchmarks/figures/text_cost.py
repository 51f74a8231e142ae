"""What the newsroom-text rule costs: the check on a write, the cleaning in the fold.

    python -m scripts.benchmarks.figures.text_cost [--events 20000] [--rounds 5]

- ``check``: ``liveblog.domain.check_text`` (the web layer's ``text_problem`` costs the
  same) on a title, a typical body and a body at its limit, per call; and the fold's
  ``projections.story.storable_text`` on the same texts.
- ``fold``: ``projections.story.apply_event`` over a story of ``--events`` posts, with
  the fold's ``storable_text`` as it is and replaced by the identity, side by side in each
  round, the cyclic GC paused as a rebuild pauses it (the fastest of ``--rounds`` is
  printed, and the ratio).

In-process and single-threaded; noisy on a shared box, so compare within one run.
"""

from __future__ import annotations

import argparse
import functools
import gc
import time
import timeit
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from liveblog.domain import MAX_BODY, Story, check_text
from projections import story as fold_module

# The fold module, its cleaning swapped in and out by attribute.
FOLD: Any = fold_module

TITLE = "Parliament to convene at 17:00 after the protests on Ala-Too Square"
BODY = "<p>" + "Crowds gathered on Ala-Too Square as results came in. " * 18 + "</p>"


def per_call(call: Callable[[], object]) -> float:
    """Seconds per call: the best of five runs of about 0.2 s each."""
    timer = timeit.Timer(call)
    number, _ = timer.autorange()
    return min(timer.repeat(5, number)) / number


def story_events(count: int) -> list[Any]:
    """An opened story and ``count`` posts, as events (built directly, not recorded)."""
    story_id = uuid4()
    at = datetime(2026, 1, 1, tzinfo=UTC)
    by = {"originator_id": story_id, "actor_id": "p-1", "actor_name": "Aida Reporter"}
    opened: Any = Story.Opened
    posted: Any = Story.UpdatePosted
    events = [opened(originator_version=1, timestamp=at, originator_topic="liveblog.domain:Story",
                     slug="bench", title=TITLE, summary="", **by)]  # fmt: skip
    for number in range(count):
        events.append(
            posted(originator_version=number + 2, timestamp=at + timedelta(seconds=number),
                   update_id=uuid4(), title=TITLE, body=BODY, key_event=False, pinned=False,
                   **by)
        )  # fmt: skip
    return events


def fold_seconds(events: Sequence[Any]) -> float:
    """One fold, with the cyclic GC paused as a rebuild pauses it."""
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        fold_module.fold(events)
        return time.perf_counter() - started
    finally:
        gc.enable()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)

    long_body = "<p>" + "x" * (MAX_BODY - 7) + "</p>"
    for name, text, limit in (("title", TITLE, 300), ("body", BODY, MAX_BODY),
                              ("body at its limit", long_body, MAX_BODY)):  # fmt: skip
        seconds = per_call(functools.partial(check_text, "f", text, limit=limit))
        storable = per_call(functools.partial(FOLD.storable_text, text))
        print(f"{name} ({len(text):,} chars): check_text {seconds * 1e6:.2f} µs, "
              f"the fold's storable_text {storable * 1e9:.0f} ns")  # fmt: skip

    events = story_events(args.events)
    cleaning = FOLD.storable_text
    with_cleaning, without = [], []
    try:
        for _ in range(args.rounds):
            FOLD.storable_text = cleaning
            with_cleaning.append(fold_seconds(events))
            FOLD.storable_text = lambda text: text
            without.append(fold_seconds(events))
    finally:
        FOLD.storable_text = cleaning
    cleaned, plain = min(with_cleaning), min(without)
    per_event = (cleaned - plain) / len(events) * 1e6
    print(f"fold of {len(events):,} events: {cleaned:.3f} s cleaning, {plain:.3f} s not "
          f"({cleaned / plain:.3f}x; {per_event:+.2f} µs per event)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
