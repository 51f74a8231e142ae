"""How the server runs under uvicorn: the live-connection settings of DESIGN §5 and §7."""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from liveblog.settings import Settings
from liveblog.web.app import create_app
from liveblog.web.server import server_config
from liveblog.web.uvicorn_adapter import LiveWebSocketProtocol


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


def test_the_websockets_implementation_is_uvicorns_sansio_one_under_either_name() -> None:
    app = create_app(Settings(database_url="memory://"))
    for name in ("websockets-sansio", "websockets"):
        config = server_config(app, host="127.0.0.1", port=0, ws=name)
        assert config.ws is LiveWebSocketProtocol
    assert issubclass(LiveWebSocketProtocol, WebSocketsSansIOProtocol)
    assert server_config(app, host="127.0.0.1", port=0, ws="wsproto").ws == "wsproto"
