"""``POST /api/preview``: a body and media as a post would store them, and what the
sanitizer would drop, with nothing recorded (for the newsroom's composer)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from liveblog.domain import MAX_BODY
from liveblog.sanitize import clean_body
from liveblog.tokens import Role
from liveblog.web.auth import require_role
from liveblog.web.inputs import accepts_query, media_field, read_json_object, required_text
from liveblog.web.requests import raw_json_response
from liveblog.web.threads import in_thread
from projections.wire import dumps


@accepts_query()
async def preview(request: Request) -> Response:
    """``{body, media?}`` → ``{body, media, warnings}``: ``warnings`` is always there
    (empty when nothing would be dropped), since saying so is what a preview is for."""
    await require_role(request, Role.CONTRIBUTOR)
    payload = await read_json_object(request, {"body", "media"})
    body = required_text(payload, "body", limit=MAX_BODY)
    media = media_field(payload) or []
    cleaned = await in_thread(clean_body, body)
    return raw_json_response(
        dumps({"body": cleaned.html, "media": media, "warnings": cleaned.warnings})
    )


ROUTES = [Route("/api/preview", preview, methods=["POST"])]
