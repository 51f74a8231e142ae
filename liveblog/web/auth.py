"""Bearer tokens and roles: who may write. Readers need no token."""

from __future__ import annotations

from starlette.requests import Request

from liveblog.tokens import Credentials, Principal, Role
from liveblog.web.errors import ApiError
from liveblog.web.threads import in_thread


async def optional_principal(request: Request) -> Principal | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "unauthorized", "use Authorization: Bearer <token>")
    credentials: Credentials = request.app.state.credentials
    secret = secret.strip()
    principal = credentials.trusted(secret) or await in_thread(credentials.authenticate, secret)
    if principal is None:
        raise ApiError(401, "unauthorized", "the token is unknown or revoked")
    # For the access log (``liveblog.web.access``), which names the person, never the token.
    request.state.principal = principal
    return principal


async def require_role(request: Request, role: Role) -> Principal:
    """The caller's principal if its role includes ``role``; else 401 or 403."""
    principal = await optional_principal(request)
    if principal is None:
        raise ApiError(
            401, "unauthorized", "this needs a token: Authorization: Bearer <token>",
            {"WWW-Authenticate": "Bearer"},
        )  # fmt: skip
    if not principal.role.includes(role):
        raise ApiError(403, "forbidden", f"this needs the {role.value} role")
    return principal
