"""Which connection classes the server runs under uvicorn.

The live-connection settings themselves (the 4 KiB inbound cap, no compression) are
checked on the wire, in ``tests/e2e/test_live.py``.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_impl import WebSocketProtocol
from websockets.legacy.server import remove_path_argument

from liveblog.settings import Settings
from liveblog.web.app import create_app
from liveblog.web.server import LiveWebSocketProtocol, _Handshaken, server_config


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
