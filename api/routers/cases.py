"""Cases: list, read one with its current suggestion and decisions, its similar cases, its duplicates."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from ..deps import ADMIN, ANY_ROLE, HANDLER, get_service, require
from ..schemas import CaseDetailPublic, CaseDuplicatesPublic, CaseListPublic, CasePublic, SimilarPublic, StatusCreate
from ..service import Service
from ..settings import Principal
from .common import CaseId, DomainFilter, RegionFilter, Since, StatusFilter, Until, case_public, errors, filters

router = APIRouter(prefix="/v1/cases", tags=["cases"])


@router.get("", response_model=CaseListPublic, summary="List cases, newest first",
            responses=errors(401, 403, 422))
def list_cases(offset: int = Query(0, ge=0, le=1_000_000), limit: int = Query(50, ge=1, le=200),
               status: StatusFilter = None, domain: DomainFilter = None,
               principal: Principal = Depends(require(*ANY_ROLE)), service: Service = Depends(get_service)):
    total, rows = service.store.list_cases(limit=limit, offset=offset, status=status, domain=domain)
    return {"total": total, "offset": offset, "limit": limit, "cases": [case_public(r, principal.role) for r in rows]}


@router.get("/{case_id}", response_model=CaseDetailPublic, summary="A case, its current suggestion and decisions",
            responses=errors(401, 403, 404, 422))
def get_case(case_id: CaseId, principal: Principal = Depends(require(*ANY_ROLE)),
             service: Service = Depends(get_service)):
    """The suggestion shown is the latest one made for the case; decisions are separate records (oldest
    first) and never change it. The masked petitioner is shown to reception and admin only."""
    rec = service.case(case_id)
    latest = service.store.latest_suggestion(rec["pk"])
    service.store.add_audit(principal.actor, principal.role, "case.read", case_id,
                            {"identity_shown": principal.role in ("reception", "admin")})
    return {"case": case_public(rec, principal.role),
            "suggestion": {**latest["payload"], "suggestion_id": latest["id"]} if latest else None,
            "decisions": service.store.decisions_for(rec["pk"])}


@router.get("/{case_id}/similar", response_model=SimilarPublic, summary="Similar past cases (类案推送)",
            responses=errors(401, 403, 404, 422))
def similar_cases(case_id: CaseId, k: int = Query(10, ge=1, le=50),
                  domain: DomainFilter = None, region: RegionFilter = None,
                  since: Since = None, until: Until = None,
                  principal: Principal = Depends(require(*ANY_ROLE)), service: Service = Depends(get_service)):
    """Stored cases most like this one, best first, with how they were resolved (``reply_excerpt``), for
    like cases to get like answers. Never the case itself; never anyone's identity."""
    _, similar = service.matches_of_case(case_id, k, filters(domain, region, since, until))
    service.store.add_audit(principal.actor, principal.role, "similar.served", case_id,
                            {"case_ids": [s["case_id"] for s in similar]}, service.model_version)
    return {"case_id": case_id, "similar": similar}


@router.get("/{case_id}/duplicates", response_model=CaseDuplicatesPublic,
            summary="Stored cases that repeat this one's matter (智能判重)", responses=errors(401, 403, 404, 422))
def duplicates(case_id: CaseId, principal: Principal = Depends(require(*ANY_ROLE)),
               service: Service = Depends(get_service)):
    """Computed now, so a repeat that arrived after this case is found too."""
    dup, _ = service.matches_of_case(case_id, 10)
    service.store.add_audit(principal.actor, principal.role, "duplicates.served", case_id,
                            {"verdict": dup["verdict"], "case_ids": [m["case_id"] for m in dup["matches"]]},
                            service.model_version)
    return {"case_id": case_id, "duplicates": dup}


@router.put("/{case_id}/status", response_model=CasePublic, summary="Set a case's status",
            responses=errors(400, 401, 403, 404, 422))
def set_status(case_id: CaseId, body: StatusCreate, principal: Principal = Depends(require(HANDLER, ADMIN)),
               service: Service = Depends(get_service)):
    """e.g. ``processing`` or ``concluded``; the reception check shows it and counts concluded cases as
    no longer open."""
    return case_public(service.set_status(case_id, body.status.strip(), principal), principal.role)
