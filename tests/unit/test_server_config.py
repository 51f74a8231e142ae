"""How the server runs under uvicorn: the live-connection settings of DESIGN §5 and §7."""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_impl import WebSocketProtocol
from websockets.legacy.server import remove_path_argument

from liveblog.settings import Settings
from liveblog.web.app import create_app
from liveblog.web.server import LiveWebSocketProtocol, _Handshaken, server_config


def test_readers_are_pinged_every_20_seconds_and_dropped_after_20_more() -> None:
    config = server_config(
        create_app(Settings(database_url="memory://")), host="127.0.0.1", port=0, ws="websockets"
    )
    assert config.ws_ping_interval == 20.0
    assert config.ws_ping_timeout == 20.0


def test_inbound_messages_are_capped_at_4_kib_and_compression_is_off() -> None:
    config = server_config(
        create_app(Settings(database_url="memory://")), host="127.0.0.1", port=0, ws="websockets"
    )
    assert config.ws_max_size == 4096
    assert config.ws_per_message_deflate is False


def test_the_websockets_implementation_is_uvicorns_legacy_one_made_lighter() -> None:
    app = create_app(Settings(database_url="memory://"))
    config = server_config(app, host="127.0.0.1", port=0, ws="websockets")
    assert config.ws is LiveWebSocketProtocol
    assert issubclass(LiveWebSocketProtocol, WebSocketProtocol)
    sansio = server_config(app, host="127.0.0.1", port=0, ws="websockets-sansio")
    assert sansio.ws == "websockets-sansio"


def test_the_connection_handler_takes_one_argument_so_the_legacy_server_keeps_it() -> None:
    handler = _Handshaken.__new__(_Handshaken)
    assert remove_path_argument(handler) is handler
