"""Compare two letters: duplicate, related or unrelated, by the same rules as ``triage compare``."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ..deps import ANY_ROLE, get_service, require
from ..schemas import CompareCreate, ComparePublic
from ..service import Service, letter_from_body
from ..settings import Principal
from .common import errors

router = APIRouter(prefix="/v1", tags=["compare"])


@router.post("/compare", response_model=ComparePublic, summary="Compare two letters",
             responses=errors(400, 401, 403, 413, 422))
def compare(body: CompareCreate, principal: Principal = Depends(require(*ANY_ROLE)),
            service: Service = Depends(get_service)):
    """``duplicate`` (the same specific matter: an office would merge them), ``related`` (same kind of issue
    or object, another matter) or ``unrelated``, with P(duplicate) as ``score`` and the reasons."""
    a = letter_from_body(body.a.as_record(), "a.")
    b = letter_from_body(body.b.as_record(), "b.")
    return service.compare(a, b, principal)
