"""People and their tokens over HTTP (DESIGN §4): ``/api/me`` for any token, the rest for
admins. Every answer is private to its caller (``Cache-Control: private, no-store``), no
list shows a secret or a hash, and a new token's secret is in its creation answer only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from liveblog.domain import MAX_NAME
from liveblog.tokens import (
    MAX_LABEL,
    Credentials,
    PersonExists,
    PersonInactive,
    PersonInfo,
    PersonNotFound,
    Role,
    TokenInfo,
    TokenNotFound,
    check_lifetime,
    parse_lifetime,
)
from liveblog.web.auth import require_principal, require_role
from liveblog.web.errors import ApiError
from liveblog.web.inputs import (
    accepts_query,
    bool_field,
    path_uuid,
    read_json_object,
    required_text,
    text_field,
)
from liveblog.web.security import PRIVATE
from liveblog.web.threads import in_thread
from projections.wire import dumps, rfc3339

T = TypeVar("T")


def private_json(
    payload: Any, status: int = 200, headers: Mapping[str, str] = PRIVATE
) -> Response:
    return Response(
        dumps(payload), status_code=status, headers=dict(headers), media_type="application/json"
    )


def person_json(person: PersonInfo) -> dict[str, Any]:
    return {
        "id": person.id,
        "name": person.name,
        "role": person.role.value,
        "active": person.active,
        "created_at": rfc3339(person.created_at),
    }


def token_json(token: TokenInfo) -> dict[str, Any]:
    return {
        "id": token.id,
        "person": {"id": token.person_id, "name": token.person_name},
        "label": token.label,
        "hint": token.hint,
        "created_at": rfc3339(token.created_at),
        "expires_at": rfc3339(token.expires_at),
        "revoked": token.revoked,
        "status": token.status,
    }


async def admin_call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A Credentials call in a worker thread, its refusals as the API's errors."""
    try:
        return await in_thread(function, *args, **kwargs)
    except (PersonNotFound, TokenNotFound) as missing:
        raise ApiError(404, "not_found", str(missing)) from None
    except (PersonExists, PersonInactive) as conflict:
        raise ApiError(409, conflict.code, str(conflict)) from None


def credentials_of(request: Request) -> Credentials:
    credentials: Credentials = request.app.state.credentials
    return credentials


@accepts_query()
async def me(request: Request) -> Response:
    principal = await require_principal(request)
    actor = principal.actor
    return private_json({"id": actor.id, "name": actor.name, "role": principal.role.value})


@accepts_query()
async def list_people(request: Request) -> Response:
    await require_role(request, Role.ADMIN)
    people = await admin_call(credentials_of(request).people)
    return private_json({"people": [person_json(p) for p in people]})


@accepts_query()
async def create_person(request: Request) -> Response:
    admin = await require_role(request, Role.ADMIN)
    payload = await read_json_object(request, {"name", "role"})
    name = required_text(payload, "name", limit=MAX_NAME)
    role = payload.get("role")
    if role is None:
        raise ApiError(422, "invalid_field", "role: is required")
    person = await admin_call(
        credentials_of(request).register, name=name, role=role, by=admin.actor
    )
    headers = {**PRIVATE, "Location": f"/api/people/{person.id}"}
    return private_json(person_json(person), 201, headers)


@accepts_query()
async def get_person(request: Request) -> Response:
    await require_role(request, Role.ADMIN)
    person = await admin_call(
        credentials_of(request).person, path_uuid(request, "person", "person")
    )
    return private_json(person_json(person))


@accepts_query()
async def edit_person(request: Request) -> Response:
    admin = await require_role(request, Role.ADMIN)
    person_id = path_uuid(request, "person", "person")
    payload = await read_json_object(request, {"role", "active"})
    active = bool_field(payload, "active")
    role = payload.get("role")
    if role is None and active is None:
        raise ApiError(422, "invalid_field", "give role, active or both")
    person = await admin_call(
        credentials_of(request).update_person,
        person_id,
        role=role,
        active=active,
        by=admin.actor,
    )
    return private_json(person_json(person))


@accepts_query()
async def create_token(request: Request) -> Response:
    admin = await require_role(request, Role.ADMIN)
    person_id = path_uuid(request, "person", "person")
    payload = await optional_json_object(request, {"label", "expires_at", "expires_in"})
    label = text_field(payload, "label", limit=MAX_LABEL) or ""
    credentials = credentials_of(request)
    expires_at = expiry_from(payload, credentials.clock())
    secret, principal = await admin_call(
        credentials.issue_for, person_id, expires_at=expires_at, label=label, by=admin.actor
    )
    assert principal.token_id is not None
    token = await admin_call(credentials.token, principal.token_id)
    headers = {**PRIVATE, "Location": f"/api/tokens/{token.id}"}
    return private_json({**token_json(token), "secret": secret}, 201, headers)


async def optional_json_object(request: Request, allowed: set[str]) -> dict[str, Any]:
    """The body as ``read_json_object`` reads it; no body at all reads as ``{}``."""
    if "content-type" not in request.headers and request.headers.get("content-length") in (
        None,
        "0",
    ):
        return {}
    return await read_json_object(request, allowed)


def expiry_from(payload: Mapping[str, Any], now: datetime) -> datetime | None:
    """``expires_at`` (RFC 3339) or ``expires_in`` ("30d", "12h", "90m" or seconds)."""
    at, within = payload.get("expires_at"), payload.get("expires_in")
    if at is not None and within is not None:
        raise ApiError(422, "invalid_field", "expires_at: give expires_at or expires_in, not both")
    if at is not None:
        if not isinstance(at, str):
            raise ApiError(422, "invalid_field", "expires_at: must be an RFC 3339 time")
        try:
            moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            raise ApiError(422, "invalid_field", "expires_at: must be an RFC 3339 time") from None
        if moment.tzinfo is None:
            raise ApiError(422, "invalid_field", "expires_at: must carry a time zone (e.g. Z)")
        return moment
    if within is None:
        return None
    if isinstance(within, bool) or not isinstance(within, (str, int)):
        raise ApiError(422, "invalid_field", 'expires_in: "30d", "12h", "90m" or seconds')
    if isinstance(within, int):
        if not 0 < within <= 10**10:
            raise ApiError(422, "invalid_field", "expires_in: must be a positive duration")
        lifetime = check_lifetime("expires_in", timedelta(seconds=within))
    else:
        lifetime = parse_lifetime("expires_in", within)
    return now + lifetime


@accepts_query("person")
async def list_tokens(request: Request) -> Response:
    await require_role(request, Role.ADMIN)
    person_id = None
    raw = request.query_params.get("person")
    if raw is not None:
        try:
            person_id = UUID(raw)
        except ValueError:
            raise ApiError(422, "invalid_query", "person: must be a person's id") from None
    listed = await admin_call(credentials_of(request).tokens, person_id)
    return private_json({"tokens": [token_json(t) for t in listed]})


@accepts_query()
async def get_token(request: Request) -> Response:
    await require_role(request, Role.ADMIN)
    token = await admin_call(credentials_of(request).token, path_uuid(request, "token", "token"))
    return private_json(token_json(token))


@accepts_query()
async def revoke_token(request: Request) -> Response:
    admin = await require_role(request, Role.ADMIN)
    token_id = path_uuid(request, "token", "token")
    token = await admin_call(credentials_of(request).revoke, token_id, by=admin.actor)
    return private_json(token_json(token))


ROUTES = [
    Route("/api/me", me, methods=["GET"]),
    Route("/api/people", list_people, methods=["GET"]),
    Route("/api/people", create_person, methods=["POST"]),
    Route("/api/people/{person}", get_person, methods=["GET"]),
    Route("/api/people/{person}", edit_person, methods=["PATCH"]),
    Route("/api/people/{person}/tokens", create_token, methods=["POST"]),
    Route("/api/tokens", list_tokens, methods=["GET"]),
    Route("/api/tokens/{token}", get_token, methods=["GET"]),
    Route("/api/tokens/{token}", revoke_token, methods=["DELETE"]),
]
