"""The one place liveblog uses the ``websockets`` library: its Sans-I/O connection.

uvicorn's ``websockets-sansio`` implementation keeps a ``websockets.server.ServerProtocol``
per connection, the library's maintained Sans-I/O layer, which turns messages into bytes
and leaves the writing to its caller. The live path writes to it directly (see
``liveblog.web.uvicorn_adapter``): these functions are the frames it asks for.

Relies only on the library's public, documented Sans-I/O API (``reference/sansio``):
``Protocol.state`` and ``State.OPEN``, ``Protocol.send_text``, ``Protocol.send_close``,
``Protocol.data_to_send``, and the ``websockets.http11.Request`` type. No private name,
and nothing from ``websockets.legacy`` (deprecated, to be removed). Checked against
websockets 17.4.
"""

from __future__ import annotations

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


def message_data(connection: ServerProtocol, message: bytes) -> list[bytes]:
    """The bytes that send one text message (UTF-8), or none once the connection is not
    open (``send_text`` would raise: a closing connection is simply not written to)."""
    if connection.state is not State.OPEN:
        return []
    connection.send_text(message)
    return connection.data_to_send()


def messages_data(connection: ServerProtocol, messages: Sequence[bytes]) -> bytes:
    """The bytes that send these text messages (UTF-8), in order, as one buffer; none
    once the connection is not open."""
    if connection.state is not State.OPEN:
        return b""
    for message in messages:
        connection.send_text(message)
    return b"".join(connection.data_to_send())


def close_data(connection: ServerProtocol, code: int, reason: str) -> list[bytes]:
    """The bytes that start the closing handshake, or none if it has started already."""
    if connection.state is not State.OPEN:
        return []
    connection.send_close(code, reason)
    return connection.data_to_send()
