"""Jobs: progress and results of batch pre-sorting, history imports and retraining."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from triage.errors import NotFound

from ..deps import ADMIN, ANY_ROLE, INTAKE, get_service, require
from ..errors import Forbidden
from ..schemas import JobPublic, JobResultsPublic
from ..service import Service
from ..settings import Principal
from .common import JobId, errors, job_public

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

READERS = {"presort": (INTAKE, ADMIN), "import": (ADMIN,), "retrain": (ADMIN,)}


def _job(service: Service, job_id: str, principal: Principal) -> dict:
    job = service.store.get_job(job_id)
    if job is None:
        raise NotFound(f"no job with id '{job_id}'", field="job_id")
    if principal.role not in READERS.get(job["kind"], (ADMIN,)):
        raise Forbidden(f"the {principal.role} role may not read {job['kind']} jobs", field="X-API-Key")
    return job


@router.get("/{job_id}", response_model=JobPublic, summary="A job's progress",
            responses=errors(401, 403, 404, 422))
def get_job(job_id: JobId, principal: Principal = Depends(require(*ANY_ROLE)),
            service: Service = Depends(get_service)):
    """``done``/``failed`` of ``total`` letters and ``progress`` in [0, 1]; ``status`` is queued, running,
    done, failed or interrupted (a retraining cut short by a restart)."""
    return job_public(_job(service, job_id, principal))


@router.delete("/{job_id}", response_model=JobPublic, summary="Cancel a retraining job",
               responses=errors(401, 403, 404, 409, 422))
def cancel_job(job_id: JobId, principal: Principal = Depends(require(ADMIN)), service: Service = Depends(get_service)):
    """Terminates the training process; the models in service are untouched. Batches and imports cannot be
    cancelled (their letters were acknowledged): 409."""
    _job(service, job_id, principal)
    job = service.jobs.cancel(job_id)
    service.store.add_audit(principal.actor, principal.role, "job.cancel", job_id, {"status": job["status"]})
    return job_public(job)


@router.get("/{job_id}/results", response_model=JobResultsPublic, summary="A job's letters and their suggestions",
            responses=errors(401, 403, 404, 422))
def get_job_results(job_id: JobId, offset: int = Query(0, ge=0, le=1_000_000), limit: int = Query(100, ge=1, le=500),
                    principal: Principal = Depends(require(*ANY_ROLE)), service: Service = Depends(get_service)):
    """One page of the job's letters in submission order: status (pending, done, failed, conflict), whether
    it was newly stored, and its suggestion once done."""
    job = _job(service, job_id, principal)
    return {"job": job_public(job), "offset": offset, "limit": limit,
            "items": service.jobs.results(job_id, offset, limit)}
