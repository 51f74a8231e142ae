"""Bearer tokens and roles: who may write, and how often. Readers need no token."""

from __future__ import annotations

from time import monotonic

from starlette.requests import Request

from liveblog.rate_limit import RateLimiter, retry_after
from liveblog.tokens import Credentials, Principal, Role, TokenRefused
from liveblog.web.errors import ApiError
from liveblog.web.threads import in_thread

# Requests that change something: each one a token makes is counted against its limit.
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


async def optional_principal(request: Request) -> Principal | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    principal = await principal_of(request.app.state.credentials, bearer_secret(header))
    # For the access log (``liveblog.web.access``), which names the person, never the token.
    request.state.principal = principal
    return principal


def bearer_secret(header: str) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; else 401."""
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "unauthorized", "use Authorization: Bearer <token>")
    return secret.strip()


async def principal_of(credentials: Credentials, secret: str) -> Principal:
    """The principal a token stands for (trusted for a few seconds once checked); else 401."""
    principal = credentials.trusted(secret)
    if principal is None:
        try:
            principal = await in_thread(credentials.authenticate, secret)
        except TokenRefused as refused:
            raise ApiError(
                401, "unauthorized", refused.message, {"WWW-Authenticate": "Bearer"}
            ) from None
    return principal


async def require_principal(request: Request) -> Principal:
    """The caller's principal, whatever the role; else 401."""
    principal = await optional_principal(request)
    if principal is None:
        raise ApiError(
            401, "unauthorized", "this needs a token: Authorization: Bearer <token>",
            {"WWW-Authenticate": "Bearer"},
        )  # fmt: skip
    return principal


async def require_role(request: Request, role: Role) -> Principal:
    """The caller's principal if its role includes ``role``; else 401 or 403.

    Every write handler starts here, so this is also where a write is counted against
    its token's rate limit (429 with ``Retry-After`` past it).
    """
    principal = await require_principal(request)
    if not principal.role.includes(role):
        raise ApiError(403, "forbidden", f"this needs the {role.value} role")
    if request.method in WRITE_METHODS:
        check_write_rate(request, principal)
    return principal


def check_write_rate(request: Request, principal: Principal) -> None:
    limiter: RateLimiter | None = getattr(request.app.state, "write_limiter", None)
    if limiter is None:
        return
    wait = limiter.check(principal.token_id or principal.actor.id, monotonic())
    if wait > 0:
        raise ApiError(
            429, "rate_limited",
            f"too many writes with this token; try again in {retry_after(wait)} s",
            {"Retry-After": retry_after(wait)},
        )  # fmt: skip
