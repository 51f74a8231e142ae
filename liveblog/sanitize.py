"""Update bodies are HTML from an allow-list, cleaned before they are stored.

Allowed: paragraphs, line breaks, emphasis, lists, blockquotes, h2 to h4, links to
http/https/mailto (given ``rel="noopener noreferrer"``) and images from https sources.
Everything else — scripts, event handlers, styles, other URL schemes — is dropped.
"""

from __future__ import annotations

import nh3

ALLOWED_TAGS = {
    "p", "br", "em", "strong", "b", "i", "ul", "ol", "li", "blockquote", "h2", "h3", "h4",
    "a", "img",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}}
LINK_SCHEMES = {"http", "https", "mailto"}
# Tags whose content is dropped with them (nh3's default keeps the inner text).
DROPPED_WITH_CONTENT = {"script", "style", "svg", "math", "iframe", "object", "template"}


def _only_https_images(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and not value.lower().startswith("https://"):
        return None
    return value


def sanitize_body(html: str) -> str:
    """Return ``html`` reduced to the allow-list; idempotent on its own output."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_only_https_images,
        url_schemes=LINK_SCHEMES,
        link_rel="noopener noreferrer",
        url_relative="deny",
        strip_comments=True,
    ).strip()
