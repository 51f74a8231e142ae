"""Search-engine markup: the reader page's JSON-LD ``LiveBlogPosting`` (schema.org).

Made from the Story JSON the page is rendered from, so it says what the page shows:
the story's title, summary, address and times, ``coverageEndTime`` only once the story
is closed (a live blog still running has no end), and one ``BlogPosting`` per update on
the page, linked to its anchor. A retracted update is left out: its tombstone has no
text to index. The text goes into a ``<script>`` element, so ``<``, ``>`` and ``&`` are
written as JSON escapes: no update can end the element early.
"""

from __future__ import annotations

from typing import Any

import orjson

from liveblog.web.feeds import entry_title, plain_text, update_anchor

CONTEXT = "https://schema.org"


def blog_posting(page_url: str, update: dict[str, Any]) -> dict[str, Any]:
    return {
        "@type": "BlogPosting",
        "headline": entry_title(update),
        "url": f"{page_url}#{update_anchor(update['id'])}",
        "datePublished": update["published_at"],
        "dateModified": update["updated_at"],
        "articleBody": plain_text(update["body"]),
        "author": {"@type": "Person", "name": update["author"]["name"]},
    }


def live_blog_posting(
    page_url: str, story: dict[str, Any], updates: list[dict[str, Any]], publisher: str
) -> dict[str, Any]:
    """The ``LiveBlogPosting`` of a story whose page shows ``updates``."""
    posting: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "LiveBlogPosting",
        "headline": story["title"],
        "description": story["summary"],
        "url": page_url,
        "datePublished": story["created_at"],
        "dateModified": story["updated_at"],
        "coverageStartTime": story["coverage_start"] or story["created_at"],
        "publisher": {"@type": "Organization", "name": publisher},
        "liveBlogUpdate": [
            blog_posting(page_url, u) for u in updates if u["status"] == "published"
        ],
    }
    if story["status"] == "closed" and story["coverage_end"]:
        posting["coverageEndTime"] = story["coverage_end"]
    return posting


def script_text(markup: dict[str, Any]) -> str:
    """JSON safe inside ``<script type="application/ld+json">``."""
    text = orjson.dumps(markup).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
