"""Word-level differences between two revisions of an update, as HTML for editors.

``body_diff`` compares two sanitized bodies (HTML): the result is the newer body's
markup, with the words it lost in ``<del>`` and the words it gained in ``<ins>``. Only
text is wrapped, never a tag, so the result nests as the newer body does; markup that
only the older body had is left out. ``text_diff`` does the same for plain text (a
title), escaped.

The matching takes time that grows with the product of the two lengths: past
``MAX_TOKENS`` words and tags in the two texts together, the whole older text is shown
removed and the whole newer one added (a body at its 20,000-character limit, rewritten,
took seconds otherwise).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from difflib import SequenceMatcher

# In HTML: a tag, a run of whitespace, or a word (anything else up to a space or tag).
_MARKUP_TOKEN = re.compile(r"<[^>]*>|\s+|[^\s<]+")
# In plain text, where "<" is a character like any other: whitespace, or a word.
_TEXT_TOKEN = re.compile(r"\s+|\S+")
# Past this many tokens in the two texts together, no word-level matching (see above).
MAX_TOKENS = 4_000


def _is_tag(token: str) -> bool:
    return token.startswith("<")


def _marked(tokens: list[str], mark: str, keep_tags: bool) -> str:
    """``tokens`` with each run of text wrapped in ``<mark>``; tags kept or dropped."""
    out: list[str] = []
    run: list[str] = []

    def close_run() -> None:
        text = "".join(run)
        if text.strip():
            out.append(f"<{mark}>{text}</{mark}>")
        elif mark == "ins":
            out.append(text)  # whitespace alone is not worth marking; the newer text has it
        run.clear()

    for token in tokens:
        if _is_tag(token):
            close_run()
            if keep_tags:
                out.append(token)
        else:
            run.append(token)
    close_run()
    return "".join(out)


def _diff(old: list[str], new: list[str]) -> str:
    if len(old) + len(new) > MAX_TOKENS:
        removed = _marked(old, "del", keep_tags=False) if old != new else ""
        return removed + (_marked(new, "ins", keep_tags=True) if old != new else "".join(new))
    out: list[str] = []
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    for op, old_start, old_end, new_start, new_end in matcher.get_opcodes():
        if op == "equal":
            out.append("".join(new[new_start:new_end]))
            continue
        if op in ("delete", "replace"):
            out.append(_marked(old[old_start:old_end], "del", keep_tags=False))
        if op in ("insert", "replace"):
            out.append(_marked(new[new_start:new_end], "ins", keep_tags=True))
    return "".join(out)


def body_diff(old: str, new: str) -> str:
    """``new`` (sanitized HTML) with what changed from ``old`` marked."""
    return _diff(_MARKUP_TOKEN.findall(old), _MARKUP_TOKEN.findall(new))


def text_diff(old: str, new: str) -> str:
    """Plain text ``new`` as HTML, with what changed from ``old`` marked."""
    escape: Callable[[str], str] = html.escape
    old_words = [escape(t) for t in _TEXT_TOKEN.findall(old)]
    return _diff(old_words, [escape(t) for t in _TEXT_TOKEN.findall(new)])
