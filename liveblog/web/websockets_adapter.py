"""The one place liveblog uses the ``websockets`` library: its Sans-I/O connection.

uvicorn's ``websockets-sansio`` implementation keeps a ``websockets.server.ServerProtocol``
per connection, the library's maintained Sans-I/O layer, which turns messages into bytes
and leaves the writing to its caller. The live path writes to it directly (see
``liveblog.web.uvicorn_adapter``): these functions are the frames it asks for.

Relies only on the library's public, documented Sans-I/O API (``reference/sansio``):
``Protocol.state`` and ``State.OPEN``, ``Protocol.send_text``, ``Protocol.send_close``,
``Protocol.data_to_send``, ``Protocol.extensions``, and the ``websockets.http11.Request``
type. No private name, and nothing from ``websockets.legacy`` (deprecated, to be
removed). Checked against websockets 17.4.

Text frames are made here, per RFC 6455, when the connection negotiated no extension (the
server runs with ``ws_per_message_deflate=False``): byte for byte what ``send_text``
makes (tests/unit/test_websockets_adapter.py compares them), at a tenth of its cost.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

# The handshake request uvicorn hands its connection (a type, for the uvicorn adapter).
HandshakeRequest = Request

__all__ = [
    "HandshakeRequest",
    "ServerProtocol",
    "close_data",
    "is_open",
    "message_data",
    "messages_data",
]


def is_open(connection: ServerProtocol) -> bool:
    """Whether messages may be sent: the handshake is done and no close was sent or
    received."""
    return connection.state is State.OPEN


def message_data(connection: ServerProtocol, message: bytes) -> bytes:
    """The bytes that send one text message (UTF-8), or none once the connection is not
    open (``send_text`` would raise: a closing connection is simply not written to).

    The hub writes one event's message to every caught-up reader in turn: the frame is
    made for the first and reused, as long as the same bytes object comes back.
    """
    if connection.state is not State.OPEN:
        return b""
    if connection.extensions:
        connection.send_text(message)
        return b"".join(connection.data_to_send())
    global _last_framed
    last = _last_framed
    if last is not None and last[0] is message:
        return last[1]
    data = _text_frame_header(len(message)) + message
    _last_framed = (message, data)
    return data


def messages_data(connection: ServerProtocol, messages: Sequence[bytes]) -> bytes:
    """The bytes that send these text messages (UTF-8), in order, as one buffer; none
    once the connection is not open."""
    if connection.state is not State.OPEN:
        return b""
    if connection.extensions:
        for message in messages:
            connection.send_text(message)
        return b"".join(connection.data_to_send())
    parts: list[bytes] = []
    for message in messages:
        parts.append(_text_frame_header(len(message)))
        parts.append(message)
    return b"".join(parts)


# The message the hub last framed and its frame (held, so that ``is`` cannot match a new
# object at a reused address). Only the event loop's thread frames messages. Kept
# because it is measured: without it each of 5,000 readers copies the message into a
# frame of its own, and the fan-out's median p99 went from 0.94x to 1.24x of the bare
# broadcast in back-to-back runs (docs/benchmarks.md, 2026-12-01).
_last_framed: tuple[bytes, bytes] | None = None


def _text_frame_header(size: int) -> bytes:
    """RFC 6455 §5.2: FIN and the text opcode, then the payload length, unmasked (a
    server's frames), no extension bits: what ``send_text`` makes when no extension was
    negotiated, in a tenth of its time (the library's frames go through a general
    ``Frame.serialize``; a storm of resumes frames hundreds of thousands of messages)."""
    if size < 126:
        return bytes((0x81, size))
    if size < 65536:
        return _SHORT_LENGTH.pack(0x81, 126, size)
    return _LONG_LENGTH.pack(0x81, 127, size)


_SHORT_LENGTH = struct.Struct("!BBH")
_LONG_LENGTH = struct.Struct("!BBQ")


def close_data(connection: ServerProtocol, code: int, reason: str) -> list[bytes]:
    """The bytes that start the closing handshake, or none if it has started already."""
    if connection.state is not State.OPEN:
        return []
    connection.send_close(code, reason)
    return connection.data_to_send()
