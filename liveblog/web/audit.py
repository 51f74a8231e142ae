"""``GET /api/audit``: every command across stories, drafts and token administration,
with who gave it and when (editors and admins)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from liveblog.audit import AuditTrail, BadCursor, Cursor, Filters
from liveblog.tokens import Role
from liveblog.web.auth import require_role
from liveblog.web.errors import ApiError
from liveblog.web.history import parse_rfc3339
from liveblog.web.inputs import accepts_query, query_int
from liveblog.web.requests import json_response
from liveblog.web.security import PRIVATE
from liveblog.web.threads import in_thread

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def audit_trail(request: Request) -> AuditTrail:
    trail: AuditTrail = request.app.state.audit
    return trail


@accepts_query("actor", "from", "to", "after", "limit")
async def audit(request: Request) -> Response:
    """A page of the trail, earliest first: ``{"entries": [...], "next": cursor | null}``.

    ``actor``: a person's id (or ``operator``: the command line); ``from``, ``to``: RFC
    3339 times, both included; ``after``: the ``next`` of the page before.
    """
    await require_role(request, Role.EDITOR)
    params = request.query_params
    limit = query_int(request, "limit", default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    try:
        after = Cursor.parse(params["after"]) if params.get("after") else Cursor()
    except BadCursor as bad:
        raise ApiError(422, "invalid_query", str(bad)) from None
    filters = Filters(
        actor=params.get("actor") or None,
        start=parse_rfc3339(params["from"], "from") if params.get("from") else None,
        end=parse_rfc3339(params["to"], "to") if params.get("to") else None,
    )
    entries, more = await in_thread(
        audit_trail(request).page, after, limit or DEFAULT_LIMIT, filters
    )
    return json_response(
        {"entries": entries, "next": None if more is None else str(more)}, headers=PRIVATE
    )


ROUTES = [Route("/api/audit", audit, methods=["GET"])]
