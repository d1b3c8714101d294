"""Admin: import history, retrain in the background, read the audit trail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from ..deps import ADMIN, get_service, require
from ..errors import InvalidRequest
from ..schemas import AuditPagePublic, ImportCreate, JobPublic, RetrainCreate
from ..service import Service, letter_from_body, seal
from ..settings import Principal
from .common import Clean, Since, as_datetime, errors, job_public, when

router = APIRouter(prefix="/v1/admin", tags=["admin"])

Action = Annotated[str | None, Query(max_length=50, description="e.g. suggestion.served, decision.recorded, "
                                   "reception.check, case.read"), Clean]
Actor = Annotated[str | None, Query(max_length=100, description="the key's name"), Clean]
Target = Annotated[str | None, Query(max_length=200, description="e.g. a case id"), Clean]


@router.post("/imports", response_model=JobPublic, status_code=status.HTTP_202_ACCEPTED,
             summary="Import history letters (up to 500 per request) in the background",
             responses=errors(400, 401, 403, 413, 422))
def import_history(body: ImportCreate, response: Response, principal: Principal = Depends(require(ADMIN)),
                   service: Service = Depends(get_service)):
    """Letters with their known outcomes (domain, type, department, reply, status) become stored cases that
    later letters are matched and routed against. Acknowledged once queued (202); ids already stored are
    skipped. Large archives: ``triage import --store URL FILE`` (the same store and indexes)."""
    limit = service.settings.max_batch
    if len(body.letters) > limit:
        raise InvalidRequest(f"has {len(body.letters)} letters; the limit is {limit} per request", field="letters")
    sealed = [seal(letter_from_body(letter.as_record(), f"letters[{i}].")) for i, letter in enumerate(body.letters)]
    job = service.jobs.submit("import", principal, sealed, {})
    response.headers["Location"] = f"/v1/jobs/{job['id']}"
    return job_public(job)


@router.post("/retrain", response_model=JobPublic, status_code=status.HTTP_202_ACCEPTED,
             summary="Retrain the models in a background process", responses=errors(400, 401, 403, 409, 422))
def retrain(response: Response, body: RetrainCreate | None = None, principal: Principal = Depends(require(ADMIN)),
            service: Service = Depends(get_service)):
    """Starts ``triage train`` (with the store's confirmed decisions) in a child process and answers at once.
    The new models go to their own folder (``result.out`` when done), with their manifest and held-out
    metrics; the service keeps serving the current version until restarted with ``TRIAGE_MODELS_DIR`` set
    to the new folder. One retraining at a time (409 otherwise)."""
    body = body or RetrainCreate()
    job = service.jobs.retrain(principal, body.model_dump())
    response.headers["Location"] = f"/v1/jobs/{job['id']}"
    return job_public(job)


@router.get("/audit", response_model=AuditPagePublic, summary="The audit trail, newest first",
            responses=errors(401, 403, 422))
def audit(action: Action = None, actor: Actor = None, target: Target = None, since: Since = None,
          before_id: int | None = Query(None, ge=1, le=2**31 - 1, description="next page: the previous next_before_id"),
          limit: int = Query(100, ge=1, le=1000),
          principal: Principal = Depends(require(ADMIN)), service: Service = Depends(get_service)):
    """Who did what, when, with which model version: every suggestion served, decision recorded, case read,
    reception check, import and retraining. Identities are never in it."""
    events = service.store.audit_events(action=action, actor=actor, target=target,
                                        since=as_datetime(when(since, "since")), before_id=before_id, limit=limit)
    return {"events": events, "next_before_id": events[-1]["id"] if len(events) == limit else None}
