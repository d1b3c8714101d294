"""Decisions: a person accepts or corrects each part of a suggestion. A separate record, never an edit."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status

from ..deps import ADMIN, ANY_ROLE, HANDLER, INTAKE, RECEPTION, get_service, require
from ..errors import Forbidden
from ..schemas import DecisionCreate, DecisionsPublic
from ..service import Service
from ..settings import Principal
from .common import CaseId, errors

router = APIRouter(prefix="/v1/cases", tags=["decisions"])


@router.post("/{case_id}/decisions", response_model=DecisionsPublic, status_code=status.HTTP_201_CREATED,
             summary="Record a decision on a case's suggestion", responses=errors(400, 401, 403, 404, 409, 422))
def record_decision(case_id: CaseId, body: DecisionCreate,
                    principal: Principal = Depends(require(INTAKE, RECEPTION, HANDLER, ADMIN)),
                    service: Service = Depends(get_service)):
    """For each part given — ``domain``, ``type``, ``department``, ``duplicate`` — one record with the
    handler, the time, what was suggested, what was decided and the model version of the suggestion.

    ``{"accepted": true}`` confirms the top suggestion; ``{"accepted": false, "value": "…"}`` corrects it.
    For duplicates, ``duplicate_of`` names the case it repeats (null: not a duplicate) and ``merge: true``
    merges this case into it. Decided values become the case's outcome (routing history, reception desk)
    and the training signal of ``triage train --decisions``.

    The reception desk may record only the ``duplicate`` part (attaching a returning visitor's visit to the
    case already open); domain, type and department are for intake and handlers."""
    if principal.role == RECEPTION and any(getattr(body, part) is not None for part in ("domain", "type", "department")):
        raise Forbidden("the reception role may record only the 'duplicate' part (attach a visit to a case)",
                        field="domain")
    decisions = service.decide(case_id, body.model_dump(), principal)
    return {"case_id": case_id, "decisions": decisions}


@router.get("/{case_id}/decisions", response_model=DecisionsPublic, summary="A case's decisions, oldest first",
            responses=errors(401, 403, 404, 422))
def list_decisions(case_id: CaseId, principal: Principal = Depends(require(*ANY_ROLE)),
                   service: Service = Depends(get_service)):
    rec = service.case(case_id)
    return {"case_id": case_id, "decisions": service.store.decisions_for(rec["pk"])}
