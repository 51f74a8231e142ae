"""An update's media: images and embeds of known providers, checked and normalised.

Pure: no I/O. The web layer checks what a client sent with ``check_media`` (a 422 that
names the item and its field, before any command runs), and the domain checks what it
records with the same function, so no path can record anything else.

Each item is stored normalised, its keys in a fixed order:

- an image: ``{"type": "image", "url", "alt", "caption", "credit"}``, with ``caption``
  and ``credit`` null when not given (or blank);
- an embed: ``{"type": "embed", "url", "provider"}``, ``provider`` one of
  ``PROVIDERS``' keys, found from the URL.

URLs are ``https://`` with a host, no user or password, at most ``MAX_URL`` characters,
and no whitespace, control character or ``<>"\\``` ``: they end up in attributes of the
reader's page. They are kept as sent (a signed image URL must not change) but for the
scheme, written ``https`` whatever its case.

Mastodon has no fixed host: an embed is a Mastodon post when its path has the shape
every Mastodon server gives a post's link, ``/@account/<digits>`` (``account`` may be
``user@server``), on any host that is not another provider's. The reader's page loads no
embed before the reader clicks, so an unknown server costs nothing until then.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from liveblog.domain import InvalidField, check_text

MAX_ITEMS = 10
MAX_URL = 2_000
MAX_ALT = 500
MAX_CAPTION = 1_000
MAX_CREDIT = 200

IMAGE = "image"
EMBED = "embed"
IMAGE_KEYS = ("type", "url", "alt", "caption", "credit")
# An embed's ``provider`` may be given (as a stored item has it): it must then be the
# one its URL names.
EMBED_KEYS = ("type", "url", "provider")

# Each provider's name in a normalised embed, its name for people, and its hosts.
PROVIDERS: dict[str, tuple[str, frozenset[str]]] = {
    "youtube": (
        "YouTube",
        frozenset({"youtube.com", "www.youtube.com", "m.youtube.com", "youtu.be"}),
    ),
    "vimeo": ("Vimeo", frozenset({"vimeo.com", "www.vimeo.com", "player.vimeo.com"})),
    "x": (
        "X/Twitter",
        frozenset({"x.com", "www.x.com", "twitter.com", "www.twitter.com", "mobile.twitter.com"}),
    ),
    "instagram": ("Instagram", frozenset({"instagram.com", "www.instagram.com"})),
    "bluesky": ("Bluesky", frozenset({"bsky.app"})),
    "tiktok": ("TikTok", frozenset({"tiktok.com", "www.tiktok.com"})),
    "mastodon": ("Mastodon", frozenset()),  # any host: see MASTODON_PATH
}
MASTODON = "mastodon"
MASTODON_PATH = re.compile(r"/@[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9.-]{1,253})?/[0-9]{1,20}/?")
_PROVIDER_OF_HOST = {host: key for key, (_, hosts) in PROVIDERS.items() for host in hosts}
ALLOWED_PROVIDERS = (
    ", ".join(name for name, _ in PROVIDERS.values())
    + " (a Mastodon post's link: https://<server>/@<account>/<post number>)"
)
# Characters no URL we store may hold: they would end an attribute or a tag.
_REFUSED_IN_URL = re.compile(r"[\x00-\x20\x7f<>\"\\`]")

MediaItem = dict[str, str | None]


def check_media(media: object) -> list[MediaItem]:
    """``media`` as it is to be recorded (each item normalised), or ``InvalidField``
    naming the item and its field (``media[2].alt: is required``)."""
    if not isinstance(media, (list, tuple)):  # a tuple: from code, not from JSON
        raise InvalidField("media", "must be a list of media items")
    if len(media) > MAX_ITEMS:
        raise InvalidField("media", f"must hold at most {MAX_ITEMS} items")
    return [_item(f"media[{index}]", item) for index, item in enumerate(media)]


def _item(name: str, item: object) -> MediaItem:
    if not isinstance(item, dict):
        raise InvalidField(name, "must be an object")
    kind = item.get("type")
    if kind == IMAGE:
        _only(name, item, IMAGE_KEYS)
        return {
            "type": IMAGE,
            "url": _url(f"{name}.url", item.get("url")),
            "alt": _text(f"{name}.alt", item.get("alt"), MAX_ALT, required=True),
            "caption": _text(f"{name}.caption", item.get("caption"), MAX_CAPTION),
            "credit": _text(f"{name}.credit", item.get("credit"), MAX_CREDIT),
        }
    if kind == EMBED:
        _only(name, item, EMBED_KEYS)
        url = _url(f"{name}.url", item.get("url"))
        provider = _provider(f"{name}.url", url)
        if item.get("provider", provider) != provider:
            raise InvalidField(f"{name}.provider", f"must be {provider!r}, as its URL says")
        return {"type": EMBED, "url": url, "provider": provider}
    if kind is None:
        raise InvalidField(f"{name}.type", 'is required ("image" or "embed")')
    raise InvalidField(f"{name}.type", 'must be "image" or "embed"')


def _only(name: str, item: dict[Any, Any], keys: tuple[str, ...]) -> None:
    unknown = [key for key in item if key not in keys]
    if unknown:
        # A key may hold a lone surrogate, which no JSON answer can carry: shown escaped.
        shown = ", ".join(
            repr(str(key)[:40].encode("utf-8", "backslashreplace").decode()) for key in unknown[:5]
        )
        allowed = ", ".join(keys)
        raise InvalidField(name, f"unknown key(s) {shown}; an {item['type']} has {allowed}")


def _text(name: str, value: object, limit: int, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if value is None:
        raise InvalidField(name, "is required")
    if not isinstance(value, str):
        raise InvalidField(name, "must be a string")
    text = check_text(name, value, limit=limit, required=required)
    return text if text.strip() else None


def _url(name: str, value: object) -> str:
    if value is None:
        raise InvalidField(name, "is required")
    if not isinstance(value, str):
        raise InvalidField(name, "must be a string")
    if len(value) > MAX_URL:
        raise InvalidField(name, f"must be at most {MAX_URL} characters")
    check_text(name, value, limit=MAX_URL)
    if _REFUSED_IN_URL.search(value):
        raise InvalidField(name, 'must not hold spaces, control characters or <>"\\`')
    try:
        parts = urlsplit(value)
        port = parts.port  # a port that is not a number raises ValueError
    except ValueError:
        raise InvalidField(name, "is not a URL") from None
    if parts.scheme.lower() != "https" or value[6:8] != "//":
        raise InvalidField(name, "must be an https:// URL")
    if not parts.hostname:
        raise InvalidField(name, "must name a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidField(name, "must not hold a user name or password")
    if port is not None and port != 443:
        raise InvalidField(name, "must not name a port other than 443")
    return "https" + value[5:]


def _provider(name: str, url: str) -> str:
    """The known provider ``url`` is a post of, or ``InvalidField`` naming them all."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    provider = _PROVIDER_OF_HOST.get(host)
    if provider is not None:
        return provider
    if MASTODON_PATH.fullmatch(parts.path):
        return MASTODON
    raise InvalidField(name, f"not a known embed provider; allowed: {ALLOWED_PROVIDERS}")
