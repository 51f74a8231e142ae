"""The pacer lets a bounded number of bulk chunks through per event-loop turn, in order,
and other work runs between turns."""

from __future__ import annotations

import asyncio

from liveblog.live.pacer import TurnPacer


async def test_at_most_per_turn_chunks_pass_per_loop_turn_and_others_run_between() -> None:
    pacer = TurnPacer(per_turn=2, rest_seconds=0)
    log: list[str] = []

    async def sender(name: str) -> None:
        for chunk in range(3):
            await pacer.turn()
            log.append(f"{name}{chunk}")

    senders_done = asyncio.Event()

    async def request() -> None:
        while not senders_done.is_set():
            log.append("|")  # another task's work, one step per loop turn
            await asyncio.sleep(0)

    async def all_senders() -> None:
        await asyncio.gather(*(sender(n) for n in "abcd"))
        senders_done.set()

    await asyncio.gather(all_senders(), request())
    chunks_between = [len(run) for run in "".join(
        "." if entry != "|" else "|" for entry in log
    ).split("|")]  # fmt: skip
    assert max(chunks_between) <= 2
    assert sorted(e for e in log if e != "|") == sorted(
        f"{n}{c}" for n in "abcd" for c in range(3)
    )


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    pacer = TurnPacer(per_turn=1, rest_seconds=0)
    await pacer.turn()
    waiting = asyncio.ensure_future(pacer.turn())
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    await asyncio.wait_for(pacer.turn(), 1)  # still let through, in a later turn
