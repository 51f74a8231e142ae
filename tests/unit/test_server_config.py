"""Which connection classes the server runs under uvicorn.

The live-connection settings themselves (the 4 KiB inbound cap, no compression) are
checked on the wire, in ``tests/e2e/test_live.py``.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from liveblog.settings import Settings
from liveblog.web.app import create_app
from liveblog.web.server import server_config
from liveblog.web.uvicorn_adapter import LiveWebSocketProtocol


def test_the_websockets_implementation_is_uvicorns_sansio_one_under_either_name() -> None:
    app = create_app(Settings(database_url="memory://"))
    for name in ("websockets-sansio", "websockets"):
        config = server_config(app, host="127.0.0.1", port=0, ws=name)
        assert config.ws is LiveWebSocketProtocol
    assert issubclass(LiveWebSocketProtocol, WebSocketsSansIOProtocol)
    assert server_config(app, host="127.0.0.1", port=0, ws="wsproto").ws == "wsproto"
