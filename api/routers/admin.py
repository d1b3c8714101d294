"""Admin: import history, retrain in the background, read the audit trail."""

from __future__ import annotations

from typing import Annotated

import shutil
import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile, status

from triage.errors import InvalidLetter
from triage.records import FILE_FORMATS, column_fields, read_letters

from ..deps import ADMIN, get_service, require
from ..errors import InvalidRequest
from ..schemas import AuditPagePublic, FileImportPublic, ImportCreate, JobPublic, RetrainCreate
from ..service import Service, check_letter, letter_from_body, seal
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


MAX_FILE_LETTERS = 100_000
FILE_SUFFIXES = tuple(FILE_FORMATS)   # the names read_letters reads by their suffix


@router.post("/imports/file", response_model=FileImportPublic, status_code=status.HTTP_202_ACCEPTED,
             summary="Import history from an export file (CSV, Excel .xlsx / .xls or JSONL) in the background",
             responses=errors(400, 401, 403, 413, 422))
def import_history_file(response: Response,
                        file: UploadFile = File(..., description="a .csv, .xlsx, .xls or .jsonl file; its name's "
                                                                 "suffix says which"),
                        principal: Principal = Depends(require(ADMIN)), service: Service = Depends(get_service)):
    """An office's export as it comes: a CSV (UTF-8 or GB 18030) or an Excel sheet under its own headers
    (工单编号, 诉求内容, 承办单位, …: those ``triage import`` reads), or letters JSONL; every letter needs an id.
    Lines or rows that cannot be imported are listed with their reason (the first 100) and the rest is queued as
    one import job. Up to the request body limit; larger archives: ``triage import --store URL FILE``."""
    suffix = Path(file.filename or "").suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise InvalidRequest(f"the file's name must end in {', '.join(FILE_SUFFIXES)}, to say how to read it",
                             field="file")
    sealed, skipped, headers = [], [], []
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        shutil.copyfileobj(file.file, tmp)
        tmp.flush()
        # read as its suffix says, as `triage import` reads it
        for parsed in read_letters(tmp.name, on_header=headers.append):
            if parsed.letter is None:
                skipped.append({"line": parsed.line, "error": parsed.error})
                continue
            try:
                sealed.append(seal(check_letter(parsed.letter)))
            except InvalidLetter as exc:
                skipped.append({"line": parsed.line, "error": str(exc)})
            if len(sealed) > MAX_FILE_LETTERS:
                raise InvalidRequest(f"has more than {MAX_FILE_LETTERS} letters; import it with "
                                     "`triage import --store URL FILE`", field="file")
    if not sealed:
        first = f" (first: {skipped[0]['error']})" if skipped else ""
        raise InvalidRequest(f"no letter in the file could be imported{first}", field="file")
    job = service.jobs.submit("import", principal, sealed, {"format": suffix.lstrip("."), "skipped": len(skipped)})
    response.headers["Location"] = f"/v1/jobs/{job['id']}"
    columns = [{"column": c, "field": f} for c, f in column_fields(headers[0])] if headers else []
    return {"job": job_public(job), "letters": len(sealed), "skipped": len(skipped), "errors": skipped[:100],
            "columns": columns}


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
