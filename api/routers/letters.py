"""Letters: submit one (stored + triaged), triage one without storing, pre-sort a batch in the background."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response, status

from ..deps import ADMIN, ANY_ROLE, INTAKE, RECEPTION, get_service, require
from ..errors import InvalidRequest
from ..schemas import BatchCreate, JobPublic, LetterCreate, LetterSuggestionPublic
from ..service import Service, letter_from_body, seal
from ..settings import Principal
from .common import DomainFilter, RegionFilter, Since, Until, errors, filters, job_public

router = APIRouter(prefix="/v1", tags=["letters"])

K = Query(10, ge=0, le=50, description="similar cases to return")


@router.post("/letters", response_model=LetterSuggestionPublic, status_code=status.HTTP_201_CREATED,
             summary="Submit a letter: store it, triage it, return its suggestion",
             responses={200: {"model": LetterSuggestionPublic, "description": "The id was already stored: its "
                              "suggestion, nothing stored twice"}, **errors(400, 401, 403, 409, 413, 422)})
async def submit_letter(body: LetterCreate, response: Response, k: int = K,
                        principal: Principal = Depends(require(INTAKE, RECEPTION, ADMIN)),
                        service: Service = Depends(get_service)):
    """The intake step. The letter is stored with its suggestion (domain, type, department, duplicates,
    similar cases) in one transaction; the answer is the suggestion with its ``suggestion_id``.

    Idempotent by ``id``: sending the same letter again returns 200 and the stored suggestion; a different
    text under a stored id is 409. Identity fields are kept only as keyed hashes and masked forms."""
    sealed = seal(letter_from_body(body.as_record()))
    out = await service.submit_soon(sealed, principal, k)
    if not out["created"]:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/v1/cases/{sealed.id}"
    return out


@router.post("/triage", response_model=LetterSuggestionPublic,
             summary="Triage a letter without storing it (dry run)", responses=errors(400, 401, 403, 413, 422))
async def triage_letter(body: LetterCreate, k: int = K,
                        domain: DomainFilter = None,
                        region: RegionFilter = None,
                        since: Since = None,
                        until: Until = None,
                        principal: Principal = Depends(require(*ANY_ROLE)), service: Service = Depends(get_service)):
    """The same suggestion as submitting, but the letter is not stored (the suggestion is, for the audit
    trail). A letter whose id is stored is that case: it is never its own duplicate or similar case."""
    sealed = seal(letter_from_body(body.as_record()))
    return await service.dry_run_soon(sealed, principal, k, filters(domain, region, since, until))


@router.post("/batches", response_model=JobPublic, status_code=status.HTTP_202_ACCEPTED,
             summary="Pre-sort a batch of letters in the background (up to 500)",
             responses=errors(400, 401, 403, 413, 422))
def submit_batch(body: BatchCreate, response: Response,
                 principal: Principal = Depends(require(INTAKE, ADMIN)), service: Service = Depends(get_service)):
    """Every letter is validated first (one bad letter refuses the batch, naming ``letters[i].field``), then
    the batch is written to the job queue in one transaction and acknowledged (202): from then on no letter
    is lost, even if the server dies — the job resumes at the next start. Follow ``GET /v1/jobs/{id}`` for
    progress and ``GET /v1/jobs/{id}/results`` for the suggestions."""
    limit = service.settings.max_batch
    if len(body.letters) > limit:
        raise InvalidRequest(f"has {len(body.letters)} letters; the limit is {limit} per batch", field="letters")
    sealed = [seal(letter_from_body(letter.as_record(), f"letters[{i}].")) for i, letter in enumerate(body.letters)]
    job = service.jobs.submit("presort", principal, sealed, {"k": body.k})
    response.headers["Location"] = f"/v1/jobs/{job['id']}"
    return job_public(job)
