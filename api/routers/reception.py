"""The reception desk's identity check and the duplicate-visit alert (重复访提醒)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ..deps import ADMIN, RECEPTION, get_service, require
from ..schemas import ReceptionCheckCreate, ReceptionPublic
from ..service import Service
from ..settings import Principal
from .common import errors

router = APIRouter(prefix="/v1/reception", tags=["reception"])


@router.post("/check", response_model=ReceptionPublic, summary="Is this visitor, or this matter, already known?",
             responses=errors(400, 401, 403, 413, 422))
def reception_check(body: ReceptionCheckCreate, principal: Principal = Depends(require(RECEPTION, ADMIN)),
                    service: Service = Depends(get_service)):
    """Give any of ``id_number``, ``phone``, ``name``, ``account`` and, optionally, the ``matter`` in the
    visitor's words. The answer lists earlier cases of this person (matched on keyed hashes; a name alone
    only when nothing stronger is given) and of this matter (anyone's), each with dates, status and
    department, and the alert: ``duplicate_visit`` when the matter is already open, ``repeat_after_conclusion``
    when it was concluded, ``person_has_open_cases``, or ``none``. The identity is never stored or logged;
    the check is audited without it. POST, so that identities never appear in a URL or an access log."""
    return service.reception_check(body.identity(), body.matter, body.limit, principal)
