"""The pages' static files: one stylesheet, the live page's ES module, ``embed.js``.

They are read once, at import, from ``liveblog/static`` (package data), and each is
served at a URL that holds a hash of its bytes (``/static/<hash>/<name>``), with
``Cache-Control: public, max-age=31536000, immutable``: a browser or CDN keeps it for a
year and never asks again, and a new release, whose bytes differ, has new URLs. A URL
with any other hash (a page rendered by an older release, still in a cache) gets the
current bytes with the ordinary public caching, never a 404 and never a year-long
promise about bytes it does not name.

``GET /embed.js`` is the one stable address: other sites paste it into their pages, so
it is served with the ordinary public caching (an ETag, a short max-age).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from liveblog.web.errors import ApiError
from liveblog.web.inputs import accepts_query

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
MEDIA_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


@dataclass(frozen=True)
class Asset:
    name: str
    body: bytes
    media_type: str
    digest: str  # the first hex digits of the bytes' hash: the URL's version

    @property
    def url(self) -> str:
        return f"/static/{self.digest}/{self.name}"


def load_assets(folder: Path = STATIC_DIR) -> dict[str, Asset]:
    assets = {}
    for path in sorted(folder.iterdir()):
        if path.suffix not in MEDIA_TYPES:
            continue
        body = path.read_bytes()
        digest = hashlib.blake2b(body, digest_size=6).hexdigest()
        assets[path.name] = Asset(path.name, body, MEDIA_TYPES[path.suffix], digest)
    return assets


ASSETS = load_assets()


def asset_url(name: str) -> str:
    """The versioned URL of one of the static files (for the templates)."""
    return ASSETS[name].url


@accepts_query()
async def static_file(request: Request) -> Response:
    asset = ASSETS.get(request.path_params["name"])
    if asset is None:
        raise ApiError(404, "not_found", "no such file")
    current = request.path_params["digest"] == asset.digest
    headers = {"Cache-Control": IMMUTABLE} if current else None
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@accepts_query()
async def embed_script(_: Request) -> Response:
    asset = ASSETS["embed.js"]
    return Response(asset.body, media_type=asset.media_type)


ROUTES = [
    Route("/static/{digest}/{name}", static_file, methods=["GET"]),
    Route("/embed.js", embed_script, methods=["GET"]),
]
