"""A join that finds another join's snapshot load under way does not settle for a render
older than the frames it has buffered since it attached (that would leave a hole, and
cost it a reset snapshot)."""

from __future__ import annotations

import asyncio
from uuid import uuid4

from liveblog.live.frames import Frame
from liveblog.live.hub import Hub

STORY = uuid4()


async def test_a_join_does_not_take_a_load_older_than_what_it_attached_after() -> None:
    hub = Hub()
    hub.bind(asyncio.get_running_loop())
    hub._publish([(STORY, Frame(v, f"e{v}")) for v in (1, 2, 3, 4, 5)])
    views_version = 5
    release = asyncio.Event()
    started = asyncio.Event()
    loads: list[int] = []

    async def load() -> tuple[int, bytes]:
        version = views_version  # what the views hold when the load starts
        loads.append(version)
        started.set()
        await release.wait()
        return version, b"{}"

    first = asyncio.ensure_future(hub.snapshot(STORY, load))  # starts a load at 5
    await started.wait()
    views_version = 7
    hub._publish([(STORY, Frame(6, "e6")), (STORY, Frame(7, "e7"))])
    second = asyncio.ensure_future(hub.snapshot(STORY, load))  # attached after 7
    await asyncio.sleep(0)
    release.set()
    first_loaded, second_loaded = await asyncio.gather(first, second)
    assert first_loaded is not None
    assert second_loaded is not None
    assert first_loaded[0] == 5  # the first join attached at 5: its buffer starts at 6
    assert second_loaded[0] == 7  # not 5: its buffer starts at 8
    assert loads == [5, 7]
