"""The public face of every GET: what caches may keep, which sites' browsers may read it,
and where readers reach the server.

- **Caching.** A public GET (a page, a feed, a story read: any ``200`` answer to ``GET``
  or ``HEAD`` that does not say ``Cache-Control`` itself) gets the configured
  ``Cache-Control`` (``LIVEBLOG_PUBLIC_CACHE_CONTROL``: ``public, max-age=1,
  stale-while-revalidate=10``) and, unless it has one, an ``ETag`` made from its bytes;
  a request whose ``If-None-Match`` holds that tag gets ``304`` and no body. So a CDN in
  front absorbs polling and page views, and a browser's revalidation costs no bytes.
  Private answers (editors', admins') carry ``private, no-store`` and are left alone,
  and so is any answer to a request that carries a token;
  so are streams (their body comes in parts) and the operational endpoints, which say
  ``no-store``.
- **CORS.** ``LIVEBLOG_ALLOWED_ORIGINS`` lists the sites whose pages may read the public
  GETs from the browser: their ``Origin`` is echoed in ``Access-Control-Allow-Origin``
  (with ``Vary: Origin``). The live streams check ``Origin`` too (``origin_refused``).
- **The public address** for canonical links, feeds and embeds: ``LIVEBLOG_PUBLIC_URL``,
  or the address the request came to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import Message, Scope, Send

from liveblog.settings import DEFAULT_PUBLIC_CACHE_CONTROL

NO_STORE = {"Cache-Control": "no-store"}
_CACHE_CONTROL = b"cache-control"
_ETAG = b"etag"


@dataclass(frozen=True)
class PublicFace:
    """The settings every public answer follows (``create_app`` makes one)."""

    cache_control: str = DEFAULT_PUBLIC_CACHE_CONTROL
    allowed_origins: frozenset[str] = frozenset()
    public_url: str | None = None

    def cors_headers(
        self, request_headers: Iterable[tuple[bytes, bytes]]
    ) -> list[tuple[bytes, bytes]]:
        """``Access-Control-Allow-Origin`` for an allowed site's browser, else nothing."""
        if not self.allowed_origins:
            return []
        origin = header_value(request_headers, b"origin")
        if origin is None or origin not in self.allowed_origins:
            return []
        return [(b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin")]

    def origin_refused(self, scope: Scope) -> str | None:
        """Why a live stream's browser may not connect from its page's site, or None.

        Only when sites are listed: a request without ``Origin`` (not a browser), from
        this server's own pages, or from a listed site is let in. The stream is public
        either way; the check keeps other sites from building on this one's readers.
        """
        if not self.allowed_origins:
            return None
        origin = header_value(scope["headers"], b"origin")
        if origin is None or origin in self.allowed_origins or origin == own_origin(scope):
            return None
        if self.public_url is not None and self.public_url.startswith(origin):
            return None
        return f"the origin {origin!r} is not one of LIVEBLOG_ALLOWED_ORIGINS"


def header_value(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def own_origin(scope: Scope) -> str | None:
    """The origin of the address the request came to (as its ``Host`` names it)."""
    host = header_value(scope["headers"], b"host")
    if host is None:
        return None
    scheme = scope.get("scheme", "http")
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    return f"{scheme}://{host.lower()}"


def public_base_url(request: Request) -> str:
    """Where readers reach this server: ``LIVEBLOG_PUBLIC_URL``, or the request's own."""
    face: PublicFace = request.app.state.public
    if face.public_url is not None:
        return face.public_url
    return str(request.base_url).rstrip("/")


def etags_in(raw: str | None) -> set[str]:
    """The entity tags an ``If-None-Match`` names (weak ones as strong: a GET compares
    them weakly)."""
    if not raw:
        return set()
    return {part.strip().removeprefix("W/") for part in raw.split(",") if part.strip()}


def body_etag(body: bytes) -> bytes:
    """A strong tag for exactly these bytes."""
    return b'"b' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'


def with_public_caching(face: PublicFace, scope: Scope, send: Send) -> Send:
    """``send`` for one request, made public as the module says (GET and HEAD only).

    A request that carries a token is never made public, whatever its route says (or
    forgets to say): what a token may read, a shared cache must not keep for others.
    """
    if (
        scope["method"] not in ("GET", "HEAD")
        or header_value(scope["headers"], b"authorization") is not None
    ):
        return send
    wanted = header_value(scope["headers"], b"if-none-match")
    cors = face.cors_headers(scope["headers"])
    cache_control = face.cache_control.encode()
    held: Message | None = None

    async def send_public(message: Message) -> None:
        nonlocal held
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            public = message["status"] in (200, 304) and not any(
                name.lower() == _CACHE_CONTROL for name, _ in headers
            )
            if not public:
                await send(message)
                return
            headers += [(_CACHE_CONTROL, cache_control), *cors]
            message["headers"] = headers
            tagged = any(name.lower() == _ETAG for name, _ in headers)
            if message["status"] != 200 or tagged or scope["method"] == "HEAD":
                await send(message)
                return
            held = message  # until its body shows whether it is whole, and its tag
            return
        if held is not None and message["type"] == "http.response.body":
            start, held = held, None
            if message.get("more_body", False):  # a stream: no tag, as it was
                await send(start)
                await send(message)
                return
            tag = body_etag(message.get("body", b""))
            headers = [*start["headers"], (_ETAG, tag)]
            tags = etags_in(wanted)
            if tag.decode() in tags or "*" in tags:
                kept = [(n, v) for n, v in headers if n.lower() not in _BODY_HEADERS]
                await send({**start, "status": 304, "headers": kept})
                await send({"type": "http.response.body", "body": b""})
                return
            await send({**start, "headers": headers})
        await send(message)

    return send_public


_BODY_HEADERS = frozenset({b"content-length", b"content-type"})
