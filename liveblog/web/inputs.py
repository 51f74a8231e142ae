"""Reading requests: JSON bodies within limits, typed fields, headers and query values.

Everything here either returns a clean value or raises ``ApiError`` with a 4xx, before
any command runs, so bad input changes nothing.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from uuid import UUID

import orjson
from starlette.requests import Request
from starlette.responses import Response

from liveblog.domain import InvalidField, text_problem
from liveblog.media import MediaItem, check_media
from liveblog.web.errors import ApiError

MAX_REQUEST_BYTES = 256 * 1024
MAX_JSON_DEPTH = 8
# Versions and revisions stay far below 10**18: a longer number in If-Match names nothing.
MAX_TAG_DIGITS = 18


async def read_json_object(request: Request, allowed: set[str]) -> dict[str, Any]:
    """The body as a JSON object with only ``allowed`` keys; 415/413/400/422 otherwise."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(
            415, "unsupported_media_type", "send JSON with Content-Type: application/json"
        )
    declared = request.headers.get("content-length")
    if declared is not None:
        # ASCII digits only: "²" is a digit to str.isdigit(), not to int(). uvicorn's
        # parsers refuse such headers, but not every server does.
        if not (declared.isascii() and declared.isdigit()):
            raise ApiError(400, "bad_request", "Content-Length is not a number")
        if len(declared) > len(str(MAX_REQUEST_BYTES)) or int(declared) > MAX_REQUEST_BYTES:
            raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_REQUEST_BYTES:
            raise _too_large()
    try:
        payload = orjson.loads(bytes(body))
    except orjson.JSONDecodeError:
        payload = _json_orjson_refuses(bytes(body))
    if not isinstance(payload, dict):
        raise ApiError(400, "malformed_json", "the body must be a JSON object")
    if _depth(payload) > MAX_JSON_DEPTH:
        raise ApiError(400, "malformed_json", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    unknown = sorted(set(payload) - allowed)
    if unknown:
        # A key may hold a lone surrogate, which no JSON answer can carry: show it escaped.
        shown = ", ".join(k.encode("utf-8", "backslashreplace").decode() for k in unknown)
        raise ApiError(422, "unknown_field", f"unknown field(s): {shown}")
    return payload


def _json_orjson_refuses(body: bytes) -> Any:
    """The body parsed by the standard library, or a 400 if it is not JSON either.

    JSON lets a string hold a lone surrogate (``"\\ud800"``); orjson refuses the whole
    body then. Parsed here, the field that holds it is named by a 422 (see
    ``text_field``), as for any other character newsroom text does not contain.
    NaN and Infinity are not JSON, so they stay refused as orjson refuses them.
    """
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_not_json)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError too
        raise ApiError(400, "malformed_json", "the body is not valid JSON") from None


def _not_json(constant: str) -> Any:
    raise ValueError(constant)


def _too_large() -> ApiError:
    return ApiError(413, "too_large", f"the body is larger than {MAX_REQUEST_BYTES} bytes")


def _depth(value: Any, level: int = 1) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def text_field(
    payload: Mapping[str, Any], name: str, *, limit: int, required: bool = False
) -> str | None:
    """A string field of newsroom text (see ``liveblog.domain.text_problem``) no longer
    than ``limit``; None when absent and not required.

    The domain checks the same rule again, on what it records; checking here too names
    the field the client sent even where the server changes the text before the domain
    sees it (an update's body is sanitized, which would silently drop a U+0000).
    """
    value = payload.get(name)
    if value is None:
        if required:
            raise ApiError(422, "invalid_field", f"{name}: is required")
        return None
    if not isinstance(value, str):
        raise ApiError(422, "invalid_field", f"{name}: must be a string")
    problem = text_problem(value)
    if problem is not None:
        raise ApiError(422, "invalid_field", f"{name}: {problem}")
    if len(value) > limit:
        raise ApiError(422, "invalid_field", f"{name}: must be at most {limit} characters")
    return value


def required_text(payload: Mapping[str, Any], name: str, *, limit: int) -> str:
    value = text_field(payload, name, limit=limit, required=True)
    assert value is not None
    return value


def media_field(payload: Mapping[str, Any]) -> list[MediaItem] | None:
    """``media``, checked and normalised (``liveblog.media``); None when absent. A 422
    names the item and its field (``media[2].alt: is required``)."""
    value = payload.get("media")
    if value is None:
        return None
    try:
        return check_media(value)
    except InvalidField as error:
        raise ApiError(422, "invalid_field", str(error)) from None


def bool_field(payload: Mapping[str, Any], name: str) -> bool | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ApiError(422, "invalid_field", f"{name}: must be true or false")
    return value


def path_uuid(request: Request, name: str, what: str) -> UUID:
    """A UUID from the path; anything else names nothing, so it is a 404."""
    try:
        return UUID(request.path_params[name])
    except ValueError:
        raise ApiError(404, "not_found", f"no {what} {request.path_params[name]!r}") from None


Endpoint = Callable[[Request], Awaitable[Response]]

# Each routed endpoint → the query parameters it knows (see ``accepts_query``). The
# OpenAPI test checks the description against it, route by route.
QUERY_NAMES: dict[Endpoint, frozenset[str]] = {}


def accepts_query(*names: str) -> Callable[[Endpoint], Endpoint]:
    """Declare the query parameters an endpoint knows; any other is ``422
    unknown_parameter`` (DESIGN §4), so a typo (``?limt=5``) is not silently ignored.

    Every routed endpoint wears this, ``@accepts_query()`` when it knows none.
    """
    allowed = frozenset(names)

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def checked(request: Request) -> Response:
            if request.scope["query_string"]:  # most requests have none: skip parsing
                reject_unknown_query(request, allowed)
            return await endpoint(request)

        QUERY_NAMES[checked] = allowed
        return checked

    return decorate


def reject_unknown_query(request: Request, allowed: frozenset[str]) -> None:
    unknown = sorted(set(request.query_params.keys()) - allowed)
    if unknown:
        raise unknown_parameter(unknown, allowed)


def unknown_parameter(unknown: list[str], allowed: Iterable[str]) -> ApiError:
    """The 422 for query parameters a route does not know; names cut short."""
    names = ", ".join(repr(name[:40]) for name in unknown[:5])
    known = ", ".join(sorted(allowed)) or "none"
    return ApiError(
        422, "unknown_parameter", f"unknown query parameter(s) {names}; known: {known}"
    )


def query_int(
    request: Request, name: str, *, default: int | None, minimum: int, maximum: int
) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, "invalid_query", f"{name}: must be a whole number") from None
    if not minimum <= value <= maximum:
        raise ApiError(422, "invalid_query", f"{name}: must be from {minimum} to {maximum}")
    return value


def query_bool(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise ApiError(422, "invalid_query", f"{name}: must be true or false")
    return raw in ("true", "1")


def if_match_number(request: Request, prefix: str) -> int | None:
    """``If-Match: "v12"`` (story version) or ``"r3"`` (update revision) → 12 or 3.

    A tag of our shape whose number no revision can have (digits other than ASCII ones,
    which ``str.isdigit`` accepts and ``int`` refuses or reads; more digits than any
    version reaches, which ``int`` refuses past 4,300) matches nothing: the condition
    fails, 412. Anything else is not an If-Match we understand: 400.
    """
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    tag = raw.strip().removeprefix("W/").strip('"')
    number = tag[len(prefix) :]
    if not tag.startswith(prefix) or not number.isdigit():
        raise ApiError(400, "bad_request", f'If-Match must look like "{prefix}<number>"')
    if not number.isascii() or len(number) > MAX_TAG_DIGITS:
        raise ApiError(412, "precondition_failed", f"If-Match names no {prefix} that can exist")
    return int(number)
