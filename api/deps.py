"""Shared dependencies: the service, the caller's role from ``X-API-Key``, and role checks.

No key → 401; a key whose role may not do this → 403. Keys are compared in constant time and never
logged or audited: the audit trail names the key's configured name (or ``role-<hash prefix>``).
"""

from __future__ import annotations

import hmac

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from .errors import Forbidden, Unauthorized
from .service import Service
from .settings import Principal

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="APIKey",
                              description="API key; its role (intake, reception, handler, admin) comes from "
                                          "TRIAGE_API_KEYS on the server")

INTAKE, RECEPTION, HANDLER, ADMIN = "intake", "reception", "handler", "admin"
ANY_ROLE = (INTAKE, RECEPTION, HANDLER, ADMIN)
SEES_IDENTITY = (RECEPTION, ADMIN)
"""Roles shown the (masked) petitioner of a case; the others never see identity fields at all."""


# The dependencies are ``async def``: they never block, and FastAPI runs a plain ``def`` dependency on the thread
# pool — three thread hand-offs a request (service, key, role) before the endpoint's own.


async def get_service(request: Request) -> Service:
    return request.app.state.service


async def get_principal(request: Request, key: str | None = Security(api_key_header)) -> Principal:
    if not key:
        raise Unauthorized("send your API key in the X-API-Key header", field="X-API-Key")
    found = None
    given = key.encode("utf-8", "surrogateescape")
    for known, principal in request.app.state.keys.items():
        if hmac.compare_digest(known.encode("utf-8"), given):
            found = principal
    if found is None:
        raise Unauthorized("unknown API key", field="X-API-Key")
    request.state.actor = found.actor
    return found


def require(*roles: str):
    """Dependency: the caller must hold one of ``roles``."""

    async def check(principal: Principal = Depends(get_principal)) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"the {principal.role} role may not do this; it needs one of: {', '.join(roles)}",
                            field="X-API-Key")
        return principal

    return check
