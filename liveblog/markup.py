"""A census of HTML: how many elements of each name, and of each attribute on them.

The sanitizer (nh3) does not say what it removed, so ``liveblog.sanitize`` counts the
elements and attributes of a body before and after it, and names what went missing.
The standard library's ``html.parser`` would do the counting, but on Python 3.11 some
malformed input takes it quadratic time (20,000 characters of ``<a `` took 3 s): a
body is hostile input. This scanner reads the text once, front to back, with
``str.find`` and anchored regular expressions that never look back, so its time grows
with the text's length and nothing else.

It follows the HTML tokenizer as far as counting needs: comments (``<!-->`` and ``--!>``
included), declarations and end tags are skipped, the text of raw-text elements
(``script``, ``style``, ``textarea``, …) holds no elements, and a quoted attribute value
left open swallows the rest of the text, as it does in a browser. Names are lowercased.
The sanitizer's own output is well-formed HTML, which this reads exactly.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

# Elements whose text is not markup, up to their end tag.
RAW_TEXT = ("script", "style", "xmp", "iframe", "noembed", "noframes", "textarea", "title")
_RAW_TEXT_END = {name: re.compile(f"</{name}", re.IGNORECASE) for name in RAW_TEXT}
_START_TAG = re.compile(r"<([A-Za-z][^\t\n\f\r />]*)")
_ATTRIBUTE_NAME = re.compile(r"[\t\n\f\r /]*([^\t\n\f\r />][^\t\n\f\r />=]*)")
_EQUALS = re.compile(r"[\t\n\f\r ]*=[\t\n\f\r ]*")
# These two match the empty string too, so they always match.
_UNQUOTED_VALUE = re.compile(r"[^\t\n\f\r >]*")
_SEPARATORS = re.compile(r"[\t\n\f\r /]*")


@dataclass
class Census:
    elements: Counter[str] = field(default_factory=Counter)
    # (element, attribute): on how many elements of that name the attribute is.
    attributes: Counter[tuple[str, str]] = field(default_factory=Counter)


def census(html: str) -> Census:
    """Count the elements and attributes of ``html`` (see the module's docstring)."""
    counted = Census()
    position, end = 0, len(html)
    while position < end:
        position = html.find("<", position)
        if position < 0:
            break
        if html.startswith("<!--", position):
            position = _comment_end(html, position + 4)
        elif html.startswith(("</", "<!", "<?"), position):
            position = _after(html, ">", position + 2)
        elif (tag := _START_TAG.match(html, position)) is not None:
            name = tag.group(1).lower()
            counted.elements[name] += 1
            position = _attributes(html, tag.end(), name, counted)
            if name in _RAW_TEXT_END and position < end:
                closing = _RAW_TEXT_END[name].search(html, position)
                position = end if closing is None else closing.start()
        else:
            position += 1  # a "<" that starts no tag is text
    return counted


def _comment_end(html: str, start: int) -> int:
    """Just past the comment whose text starts at ``start``: ``<!-->`` and ``<!--->``
    are whole (empty) comments, and ``--!>`` ends one as ``-->`` does."""
    if html.startswith(">", start):
        return start + 1
    if html.startswith("->", start):
        return start + 2
    return min(_after(html, "-->", start), _after(html, "--!>", start))


def _after(html: str, marker: str, start: int) -> int:
    """Just past the next ``marker`` from ``start``; the end of the text if there is none."""
    found = html.find(marker, start)
    return len(html) if found < 0 else found + len(marker)


def _attributes(html: str, position: int, element: str, counted: Census) -> int:
    """Count the attributes of the start tag whose name ends at ``position``; returns
    where the tag ends (the end of the text if a quoted value is never closed)."""
    # In order (warnings name them so); a repeated one counts once, as the parser keeps one.
    seen: dict[str, None] = {}
    end = len(html)
    while position < end:
        if html[position] == ">":
            position += 1
            break
        name = _ATTRIBUTE_NAME.match(html, position)
        if name is None:  # only separators were left before the end or a ">"
            position = _SEPARATORS.match(html, position).end()  # type: ignore[union-attr]
            continue
        seen[name.group(1).lower()] = None
        position = name.end()
        equals = _EQUALS.match(html, position)
        if equals is None:
            continue
        position = equals.end()
        quote = html[position : position + 1]
        if quote in ('"', "'"):
            closing = html.find(quote, position + 1)
            # Never closed: the rest of the text is this value.
            position = end if closing < 0 else closing + 1
        else:
            position = _UNQUOTED_VALUE.match(html, position).end()  # type: ignore[union-attr]
    for attribute in seen:
        counted.attributes[element, attribute] += 1
    return position
