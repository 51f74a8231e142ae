"""Update bodies are HTML from an allow-list, cleaned before they are stored.

Allowed: paragraphs, line breaks, emphasis, lists, blockquotes, h2 to h4, links to
http/https/mailto (given ``rel="noopener noreferrer"``) and images from https sources.
Everything else — scripts, event handlers, styles, other URL schemes — is dropped.

What was dropped is said, not silently lost: ``clean_body`` also gives a warning for each
element and attribute of the body that the cleaned body no longer has (found by
counting both, ``liveblog.markup``), with a hint of what to do instead. Comments are
dropped without a word.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import nh3

from liveblog.markup import census

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


# At most this many warnings for one body, each name cut to this many characters: a
# hostile body may hold thousands of made-up elements.
MAX_WARNINGS = 20
MAX_WARNED_NAME = 40

EMBEDS_HINT = "use media for embeds"
_ELEMENT_HINTS = {
    **dict.fromkeys(
        ("iframe", "embed", "object", "video", "audio", "source", "track", "picture"),
        EMBEDS_HINT,
    ),
    "script": f"scripts are not allowed; {EMBEDS_HINT}",
    "style": "styles are not allowed",
    "img": "use media for images",
}
_KEPT = ", ".join(sorted(ALLOWED_TAGS))
_ATTRIBUTE_HINTS = {
    ("img", "src"): "images must come from https:// addresses; or use media for images",
    ("a", "href"): "links must be http://, https:// or mailto: addresses",
}

BodyWarning = dict[str, Any]


class Cleaned(NamedTuple):
    """A body as it is stored, and what cleaning it dropped."""

    html: str
    warnings: list[BodyWarning]


def clean_body(html: str) -> Cleaned:
    """``sanitize_body(html)`` and a warning for each element or attribute it dropped."""
    cleaned = sanitize_body(html)
    return Cleaned(cleaned, removal_warnings(html, cleaned))


def removal_warnings(html: str, cleaned: str) -> list[BodyWarning]:
    """What ``html`` has and ``cleaned`` (its sanitized form) lost, in order of first
    appearance: the elements, then the attributes of elements that were kept."""
    if cleaned == html.strip():
        return []  # nothing changed (a body already clean, the usual case): nothing lost
    before, after = census(html), census(cleaned)
    warnings = [
        _removed_element(element)
        for element, count in before.elements.items()
        if after.elements[element] < count
    ]
    warnings += [
        _removed_attribute(element, attribute)
        for (element, attribute), count in before.attributes.items()
        if element in ALLOWED_TAGS and after.attributes[element, attribute] < count
    ]
    return warnings[:MAX_WARNINGS]


def _removed_element(element: str) -> BodyWarning:
    hint = _ELEMENT_HINTS.get(element, f"only these elements are kept: {_KEPT}")
    return {"code": "removed_element", "element": element[:MAX_WARNED_NAME], "hint": hint}


def _removed_attribute(element: str, attribute: str) -> BodyWarning:
    hint = _ATTRIBUTE_HINTS.get((element, attribute))
    if hint is None and attribute.startswith("on"):
        hint = "event handler attributes are not allowed"
    elif hint is None:
        hint = "only a's href and title, and img's src, alt and title are kept"
    return {
        "code": "removed_attribute",
        "element": element,
        "attribute": attribute[:MAX_WARNED_NAME],
        "hint": hint,
    }


class Sanitized:
    """A body to store, cleaned when first asked for, once, in whichever thread asks.

    A command cleans its body in the worker thread that runs it (not on the event loop);
    the request that made the command reads the warnings once it has run.
    """

    __slots__ = ("_cleaned", "raw")

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self._cleaned: Cleaned | None = None

    def cleaned(self) -> Cleaned:
        if self._cleaned is None:
            self._cleaned = clean_body(self.raw)
        return self._cleaned

    @property
    def html(self) -> str:
        return self.cleaned().html

    @property
    def warnings(self) -> list[BodyWarning]:
        return self.cleaned().warnings
