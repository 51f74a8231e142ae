"""``WS /api/stories/{story}/live?replay=SPEED[&from=V]``: how coverage unfolded, for editors.

DESIGN §5. A replay is a finite stream over the stored events, read a page at a time in
worker threads (``projections.replay``), paced by ``liveblog.replay_clock``: a
``snapshot`` of the story at ``from - 1`` (``"replay": true``), each event from ``from`` to
V with its ``data`` as it stood then, ``{"type": "replay_end", "version": V}``, a normal
close. It shows superseded and retracted text, so it needs an editor's token. It reads
the store only: it never touches the live hub, its rings, or anything else.

Refusals, in the order they are checked: a bad query is the live route's ``422`` on the
handshake; a missing, bad or non-editor token is a close with 4401 (a browser cannot read
a refused handshake's status, but it can read a close code); no such story is 4404, as on
the live route; a ``from`` past the story is a ``422`` on the handshake again.

The token may come in the query (``token=``) for browsers, which cannot set headers on a
WebSocket: ``liveblog.logs`` redacts it from every line that shows a query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

import orjson
from eventsourcing.persistence import PersistenceError
from starlette.datastructures import State
from starlette.types import Receive, Scope, Send

from liveblog.live.frames import event_frame
from liveblog.replay import ReplayRefused, plan_replay
from liveblog.replay_clock import BadSpeed, ReplayClock, parse_speed
from liveblog.tokens import Principal, Role
from liveblog.web.auth import bearer_secret, principal_of
from liveblog.web.errors import ApiError
from liveblog.web.inputs import MAX_TAG_DIGITS, unknown_parameter
from liveblog.web.live_session import STORE_UNAVAILABLE, UNKNOWN_STORY
from liveblog.web.stream import REPLAY_QUERY, refuse_handshake
from liveblog.web.threads import in_thread
from projections.replay import StoryReplay
from projections.story_reads import StoryMissing
from projections.wire import folded_story_bytes

log = logging.getLogger("liveblog.live")

UNAUTHORIZED = 4401  # as HTTP's 401, in the range close codes leave to applications
# The fold refused a stored event (the story needs attention, see the README).
CANNOT_REPLAY = 1011
DONE = 1000

Sleep = Callable[[float], Awaitable[Any]]


class ReplayAsk(NamedTuple):
    """A replay's query, checked."""

    speed: float | None  # None: ``max``
    first: int | None  # ``from``; None: the default (1)
    token: str | None


def _query(scope: Scope) -> list[tuple[str, str]]:
    raw: bytes = scope.get("query_string", b"")
    return parse_qsl(raw.decode("latin-1"), keep_blank_values=True) if raw else []


def replay_query(scope: Scope) -> ReplayAsk:
    """The replay's SPEED, ``from`` and token from the query (each: the last one given);
    ``ApiError`` 422 for anything else, as the live stream refuses bad input."""
    values = dict(_query(scope))
    if "since" in values:
        raise ApiError(422, "invalid_query", "since: a replay cannot resume; drop since")
    unknown = sorted(set(values) - set(REPLAY_QUERY))
    if unknown:
        raise unknown_parameter(unknown, REPLAY_QUERY)
    try:
        speed = parse_speed(values["replay"])
    except BadSpeed as bad:
        raise ApiError(422, "invalid_query", f"replay: {bad}") from None
    return ReplayAsk(speed, _first(values.get("from")), values.get("token") or None)


def _first(raw: str | None) -> int | None:
    if raw is None:
        return None
    # ASCII digits only: ``int`` would read "+5", " 5", "1_0" and other scripts' digits.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_TAG_DIGITS or int(raw) < 1:
        raise ApiError(422, "invalid_query", "from: must be a version, 1 or more")
    return int(raw)


async def replay_websocket(
    state: State, scope: Scope, receive: Receive, send: Send, story_ref: str, *,
    sleep: Sleep = asyncio.sleep, clock: Callable[[], float] = time.monotonic,
) -> None:  # fmt: skip
    """Answer a replay's handshake, then send the replay (``sleep`` and ``clock``: the
    pace's, replaced by tests)."""
    try:
        ask = replay_query(scope)
    except ApiError as error:
        await refuse_handshake(scope, send, error)
        return
    refusal = await _editor(state, scope, ask.token)
    if isinstance(refusal, str):
        await _close_at_once(send, UNAUTHORIZED, refusal)
        return
    newsroom = state.newsroom
    try:
        story_id = newsroom.resolve_story_id(story_ref)
        replay = await in_thread(plan_replay, newsroom, story_id, first=ask.first)
    except StoryMissing:
        await _close_at_once(send, UNKNOWN_STORY, "no such story")
        return
    except ReplayRefused as refused:
        await refuse_handshake(scope, send, ApiError(422, "invalid_query", str(refused)))
        return
    except PersistenceError:
        await _close_at_once(send, *STORE_UNAVAILABLE)
        return
    log.info(
        "person %s replays story %s, versions %d to %d",
        refusal.actor.id, story_id, replay.first, replay.last,
    )  # fmt: skip
    await send({"type": "websocket.accept"})
    await run_replay(replay, ask.speed, receive, send, sleep=sleep, clock=clock)


async def _editor(state: State, scope: Scope, token: str | None) -> Principal | str:
    """The editor the request's token stands for (the ``Authorization`` header first,
    else the ``token`` parameter), or why not: the close reason."""
    header = next((value for name, value in scope["headers"] if name == b"authorization"), None)
    try:
        secret = bearer_secret(header.decode("latin-1")) if header is not None else token
        if secret is None:
            return "a replay needs an editor's token (Authorization: Bearer, or token=)"
        principal = await principal_of(state.credentials, secret)
    except ApiError as refused:
        return refused.message[:120]
    if not principal.role.includes(Role.EDITOR):
        return "a replay needs an editor's token"
    return principal


async def _close_at_once(send: Send, code: int, reason: str) -> None:
    """Accept, then close with ``code``: what a browser can read, unlike a refused
    handshake's status."""
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code, "reason": reason})


async def run_replay(
    replay: StoryReplay, speed: float | None, receive: Receive, send: Send, *,
    sleep: Sleep, clock: Callable[[], float],
) -> None:  # fmt: skip
    """Send the replay on an accepted WebSocket, until its end or the client's going.

    The client has nothing to say; its messages are read only to notice at once that it
    went, which ends the replay mid-wait or mid-send, with no task left behind.
    """
    sender = asyncio.ensure_future(_send_replay(replay, ReplayClock(speed, clock), send, sleep))
    watcher = asyncio.ensure_future(_until_gone(receive))
    try:
        await asyncio.wait({sender, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, watcher):
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(sender, watcher, return_exceptions=True)


async def _until_gone(receive: Receive) -> None:
    while (await receive())["type"] != "websocket.disconnect":
        pass


async def _send_replay(replay: StoryReplay, pace: ReplayClock, send: Send, sleep: Sleep) -> None:
    code, reason = DONE, ""
    try:
        async for text in replay_messages(replay, pace, sleep):
            await send({"type": "websocket.send", "text": text})
    except StoryMissing:
        code, reason = UNKNOWN_STORY, "no such story"
    except PersistenceError:
        code, reason = STORE_UNAVAILABLE
    except ValueError as refused:  # the fold refused an event (UnknownEvent, a gap)
        log.error("replaying story %s after version %d failed: %r",
                  replay.story_id, replay.position, refused)  # fmt: skip
        code, reason = CANNOT_REPLAY, f"cannot replay past version {replay.position}"
    await send({"type": "websocket.close", "code": code, "reason": reason})


async def replay_messages(
    replay: StoryReplay, pace: ReplayClock, sleep: Sleep
) -> AsyncIterator[str]:
    """The replay's messages, each when it is due: reads and folds run in worker
    threads, one page at a time, so the event loop never waits on the store."""
    opening = await in_thread(replay.opening)
    yield snapshot_text(replay.first - 1, None if opening is None else folded_story_bytes(opening))
    while page := await in_thread(replay.next_page):
        for item in page:
            wait = pace.wait_before(item.applied.at)
            if wait > 0:
                await sleep(wait)
            yield event_frame(item.applied).text
        del page  # a page at a time: what was sent is not kept
    yield orjson.dumps({"type": "replay_end", "version": replay.last}).decode()


def snapshot_text(version: int, story: bytes | None) -> str:
    """The replay's first message: the story at ``version`` (null at 0: not opened yet)."""
    body = orjson.Fragment(story) if story is not None else None
    message = {"type": "snapshot", "version": version, "replay": True, "story": body}
    return orjson.dumps(message).decode()
