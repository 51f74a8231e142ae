"""Ready answers (``LiveblogApp.ready_answer``) on the wire, over raw sockets.

A ``GET`` of a story whose render is cached is answered before routing, with ready
bytes. These tests read the bytes: framing, keep-alive, pipelining, ``Connection:
close``, HTTP/1.0, and the request id and count, which all must behave as on the routed
path (``test_read_api.py`` compares the answers themselves).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from liveblog.web.security import SECURITY_HEADERS
from tests.e2e.server import SharedServer
from tests.e2e.wire import TIMEOUT, Wire, request
from tests.helpers import open_cached_story

SECURITY_HEADER_NAMES = {name.decode() for name, _ in SECURITY_HEADERS}


@pytest.fixture
def client(shared_server: SharedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_server.server.base_url, timeout=TIMEOUT) as http:
        yield http


def test_a_304_and_a_200_are_framed_with_uvicorns_headers_on_one_connection(
    client: httpx.Client, shared_server: SharedServer
) -> None:
    tag, _ = open_cached_story(client, shared_server.tokens, "ready-framing")
    wire = Wire(shared_server.server.port)
    try:
        for _ in range(3):
            wire.send(request("/api/stories/ready-framing", f"If-None-Match: {tag}"))
            status, headers, body = wire.response()
            assert status == b"HTTP/1.1 304 Not Modified"
            assert headers["etag"] == tag
            assert body == b""
            assert set(headers) == {
                "date",
                "server",
                "etag",
                "cache-control",
                "x-request-id",
                *SECURITY_HEADER_NAMES,
            }
            wire.send(request("/api/stories/ready-framing"))
            status, headers, body = wire.response()
            assert status == b"HTTP/1.1 200 OK"
            assert int(headers["content-length"]) == len(body) > 0
            assert body == client.get("/api/stories/ready-framing?min_version=1").content
    finally:
        wire.close()


def test_pipelined_requests_are_answered_in_order(
    client: httpx.Client, shared_server: SharedServer
) -> None:
    tag, _ = open_cached_story(client, shared_server.tokens, "ready-pipelined")
    wire = Wire(shared_server.server.port)
    try:
        wire.send(
            request("/api/stories/ready-pipelined", f"If-None-Match: {tag}")
            + request("/api/stories/ready-pipelined/updates")  # the routed path, between
            + request("/api/stories/ready-pipelined")
            + request("/api/stories/ready-pipelined", f"If-None-Match: {tag}")
        )
        statuses = [wire.response()[0] for _ in range(4)]
    finally:
        wire.close()
    assert statuses == [b"HTTP/1.1 304 Not Modified", b"HTTP/1.1 200 OK",
                        b"HTTP/1.1 200 OK", b"HTTP/1.1 304 Not Modified"]  # fmt: skip


def test_connection_close_and_http_1_0_are_answered_and_closed(
    client: httpx.Client, shared_server: SharedServer
) -> None:
    tag, _ = open_cached_story(client, shared_server.tokens, "ready-closing")
    for raw in (
        request("/api/stories/ready-closing", f"If-None-Match: {tag}", "Connection: close"),
        request("/api/stories/ready-closing", version="1.0"),
    ):
        wire = Wire(shared_server.server.port)
        try:
            wire.send(raw)
            status, headers, _ = wire.response()
            assert status.split(b" ")[1] in (b"200", b"304")
            assert headers["etag"] == tag
            assert wire.closed_by_server()
        finally:
            wire.close()


def test_a_ready_answer_carries_a_request_id_and_is_counted(
    client: httpx.Client, shared_server: SharedServer
) -> None:
    """Not logged by default (LIVEBLOG_ACCESS_LOG_CACHED, see tests/e2e/test_operable.py):
    counted in /metrics, and its request id echoed, as on the routed path."""
    tag, _ = open_cached_story(client, shared_server.tokens, "ready-logged")
    counted = 'liveblog_http_ready_answers_total{status="304"} '

    def count() -> float:
        line = next(x for x in client.get("/metrics").text.splitlines() if x.startswith(counted))
        return float(line.split()[-1])

    before = count()
    wire = Wire(shared_server.server.port)
    try:
        wire.send(
            request("/api/stories/ready-logged", f"If-None-Match: {tag}", "X-Request-ID: r-1")
        )
        status, headers, _ = wire.response()
        assert status == b"HTTP/1.1 304 Not Modified"
        assert headers["x-request-id"] == "r-1"
    finally:
        wire.close()
    assert count() == before + 1
