"""Security headers on every HTTP answer (DESIGN §7), computed once.

Every answer says ``nosniff`` (a browser must not guess HTML out of JSON that carries a
reporter's text) and sends no referrer onwards. The API answers data, never a document
to render, so its policy lets it load nothing and be framed by nothing. A route that
serves a document (a page) sets a ``Content-Security-Policy`` of its own, which is kept.

Two ways in, one set of bytes: ``with_security_headers`` wraps ``send`` for everything
that goes through Starlette (routes, errors, 404s, 405s, streams), and the ready answers
of ``cached_story_answer`` append ``SECURITY_HEADERS`` to their precomputed lists, so
the hottest read pays no wrapper at all.
"""

from __future__ import annotations

from starlette.types import Message, Send

CONTENT_SECURITY_POLICY = b"content-security-policy"
API_POLICY = b"default-src 'none'; frame-ancestors 'none'"

# What every answer carries, as (lower-case name, value) pairs, ready for ASGI.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (CONTENT_SECURITY_POLICY, API_POLICY),
)
_ALWAYS = SECURITY_HEADERS[:2]

# Editor-only answers (the past, history, superseded text), /api/me and admin answers
# (people, tokens): kept by no cache, not even the browser's, and never by a shared one. Pass it
# as the response's headers.
PRIVATE = {"Cache-Control": "private, no-store"}


def with_security_headers(send: Send) -> Send:
    """``send``, adding the security headers to the start of an HTTP answer."""

    async def send_secured(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            if any(name.lower() == CONTENT_SECURITY_POLICY for name, _ in headers):
                headers.extend(_ALWAYS)
            else:
                headers.extend(SECURITY_HEADERS)
            message["headers"] = headers
        await send(message)

    return send_secured
