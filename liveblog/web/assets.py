"""The pages' static files: one stylesheet, the live page's ES module, ``embed.js``.

They are read once, at import, from ``liveblog/static`` (package data), and each is
served at a URL that holds a hash of its bytes (``/static/<hash>/<name>``), with
``Cache-Control: public, max-age=31536000, immutable``: a browser or CDN keeps it for a
year and never asks again, and a new release, whose bytes differ, has new URLs. A URL
with any other hash (a page rendered by an older release, still in a cache) gets the
current bytes with the ordinary public caching, never a 404 and never a year-long
promise about bytes it does not name.

An ES module's imports of its neighbours (``from "./name.js"``) are rewritten, as the
files are read, to those neighbours' hashed URLs, and its own hash is taken after: a
module's URL then changes whenever anything it imports changes, and every file of the
newsroom console's module graph is cached as immutably as the page's one module. (No
build step: this is the whole of it.)

``GET /embed.js`` is the one stable address: other sites paste it into their pages, so
it is served with the ordinary public caching (an ETag, a short max-age).
"""

from __future__ import annotations

import hashlib
import re
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


NEIGHBOUR_IMPORT = re.compile(rb'((?:from|import)\s*)"\./([\w.-]+\.js)"')


def load_assets(folder: Path = STATIC_DIR) -> dict[str, Asset]:
    files = {p.name: p for p in sorted(folder.iterdir()) if p.suffix in MEDIA_TYPES}
    assets: dict[str, Asset] = {}

    def load(name: str, importers: tuple[str, ...]) -> Asset:
        if name in importers:
            raise ValueError(f"static modules import each other in a cycle: {importers}")
        if name not in files:
            raise ValueError(f"{importers[-1]} imports {name}, which is not a static file")
        if name not in assets:
            path = files[name]
            body = path.read_bytes()
            if path.suffix == ".js":

                def hashed(m: re.Match[bytes]) -> bytes:
                    url = load(m[2].decode(), (*importers, name)).url
                    return m[1] + b'"' + url.encode() + b'"'

                body = NEIGHBOUR_IMPORT.sub(hashed, body)
            digest = hashlib.blake2b(body, digest_size=6).hexdigest()
            assets[name] = Asset(name, body, MEDIA_TYPES[path.suffix], digest)
        return assets[name]

    for name in files:
        load(name, ())
    return dict(sorted(assets.items()))


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
