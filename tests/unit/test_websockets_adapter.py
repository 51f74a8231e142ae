"""``liveblog.web.websockets_adapter`` makes text frames itself when no extension was
negotiated: they must be, byte for byte, what the library's ``send_text`` makes, at every
length boundary of RFC 6455 §5.2, and nothing once the connection is not open."""

from __future__ import annotations

import pytest
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.protocol import State
from websockets.server import ServerProtocol

from liveblog.web.websockets_adapter import message_data, messages_data

# Payload lengths around the three length encodings (7 bits, 16 bits, 64 bits).
SIZES = (0, 1, 125, 126, 127, 65_535, 65_536, 70_000)


def open_connection() -> ServerProtocol:
    connection = ServerProtocol()
    connection.state = State.OPEN  # as after the handshake uvicorn makes
    return connection


def library_frames(messages: list[bytes]) -> bytes:
    connection = open_connection()
    for message in messages:
        connection.send_text(message)
    return b"".join(connection.data_to_send())


@pytest.mark.parametrize("size", SIZES)
def test_one_message_is_framed_as_the_library_frames_it(size: int) -> None:
    message = ("é" * (size // 2) + "x" * (size % 2)).encode()
    assert len(message) == size
    assert message_data(open_connection(), message) == library_frames([message])


def test_many_messages_are_framed_as_the_library_frames_them() -> None:
    messages = [b"m" * size for size in SIZES]
    assert messages_data(open_connection(), messages) == library_frames(messages)


def test_a_reused_frame_belongs_to_the_same_message_only() -> None:
    connection = open_connection()
    first = b'{"type":"event","version":1}'
    assert message_data(connection, first) == library_frames([first])
    # Equal length, other bytes, another object: framed anew, not served the first frame.
    second = b'{"type":"event","version":2}'
    assert message_data(connection, second) == library_frames([second])
    assert message_data(connection, first) == library_frames([first])


def test_nothing_is_framed_once_the_connection_is_not_open() -> None:
    connection = open_connection()
    connection.send_close(1001, "going away")
    assert message_data(connection, b"late") == b""
    assert messages_data(connection, [b"late", b"later"]) == b""


def test_a_negotiated_extension_leaves_the_framing_to_the_library() -> None:
    """Were compression ever turned on, frames must be compressed: the library makes them."""
    message = b"words " * 200
    connection = open_connection()
    connection.extensions = [PerMessageDeflate(False, False, 15, 15)]
    compressed = message_data(connection, message)
    assert 0 < len(compressed) < len(message)
    assert compressed[0] & 0x40  # RSV1: a compressed message
    many = messages_data(connection, [message, message])
    assert 0 < len(many) < 2 * len(message)
