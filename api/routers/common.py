"""Helpers shared by the routers: error responses for OpenAPI, query filters, public views of records."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator

from triage.errors import InvalidLetter
from triage.privacy import mask_shown
from triage.records import parse_date

from ..deps import SEES_IDENTITY
from ..schemas import CasePublic, ErrorPublic, JobPublic, PetitionerMasked, _clean_text
from ..service import mask_deep

# Path and query texts: no NUL character (PostgreSQL cannot even compare one), length-limited.
Clean = AfterValidator(_clean_text)
CaseId = Annotated[str, Path(max_length=200, description="the case's id"), Clean]
JobId = Annotated[str, Path(max_length=40, description="the job's id"), Clean]
DomainFilter = Annotated[str | None, Query(max_length=200, description="only cases of this domain"), Clean]
RegionFilter = Annotated[str | None, Query(max_length=200, description="only cases mentioning this place"), Clean]
StatusFilter = Annotated[str | None, Query(max_length=50, description="only cases with this status"), Clean]
Since = Annotated[str | None, Query(max_length=64, description="from this date (ISO 8601, e.g. 2024-05-01)"), Clean]
Until = Annotated[str | None, Query(max_length=64, description="up to this date (ISO 8601)"), Clean]


_DESCRIPTIONS = {400: "Malformed JSON", 401: "No or unknown API key", 403: "The key's role may not do this",
                 404: "Unknown id", 409: "Conflict with what is stored", 413: "Body too large",
                 422: "Invalid field (the error names it)", 503: "Not ready"}


def errors(*codes: int) -> dict:
    """``responses=`` for a route: the listed error statuses with the common error body."""
    return {code: {"model": ErrorPublic, "description": _DESCRIPTIONS.get(code, "Error")} for code in codes}


def when(value: str | None, name: str) -> str | None:
    """A query date (ISO 8601 or common Chinese formats) → ISO string; 422 naming the parameter otherwise."""
    if value is None or value == "":
        return None
    try:
        iso = parse_date(value, field_name=name)
        dt.datetime.fromisoformat(iso)
        return iso
    except (InvalidLetter, ValueError, OverflowError):
        raise InvalidLetter(f"'{value[:40]}' is not a date (use ISO 8601, e.g. 2024-05-01)", field=name) from None


def as_datetime(iso: str | None) -> dt.datetime | None:
    if iso is None:
        return None
    value = dt.datetime.fromisoformat(iso)
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def filters(domain: str | None, region: str | None, since: str | None, until: str | None) -> dict | None:
    out = {"domain": domain, "region": region, "since": when(since, "since"), "until": when(until, "until")}
    out = {k: v for k, v in out.items() if v}
    return out or None


def case_public(rec: dict, role: str) -> CasePublic:
    """A case as a role may see it: text masked; the masked petitioner only for reception and admin."""
    extra = rec.get("extra") or {}
    petitioner = None
    if role in SEES_IDENTITY and rec.get("petitioner_masked"):
        petitioner = PetitionerMasked(**rec["petitioner_masked"])

    def shown(text: str | None) -> str | None:
        return mask_shown(text, rec.get("petitioner_masked"), rec.get("identities"))

    return CasePublic(id=rec["id"], title=shown(rec.get("title") or ""), content=shown(rec["content"]),
                      channel=rec.get("channel"), received_at=rec.get("received_at"), created_at=rec.get("created_at"),
                      region=rec.get("region"), domain=rec.get("domain"), type=rec.get("type"),
                      department=rec.get("department"), status=rec.get("status"),
                      reply=shown(rec["reply"]) if rec.get("reply") else None,
                      merged_into=extra.get("merged_into") if isinstance(extra, dict) else None, petitioner=petitioner,
                      extra=mask_deep({k: v for k, v in extra.items() if k != "merged_into"}) or None
                      if isinstance(extra, dict) else None)


def job_public(job: dict) -> JobPublic:
    total = job["total"] or 0
    progress = 1.0 if job["status"] == "done" else ((job["done"] + job["failed"]) / total if total else 0.0)
    params = {k: v for k, v in (job.get("params") or {}).items() if k != "out"} or None
    return JobPublic(id=job["id"], kind=job["kind"], status=job["status"], total=total, done=job["done"],
                     failed=job["failed"], progress=round(min(progress, 1.0), 4), created_at=job["created_at"],
                     started_at=job["started_at"], finished_at=job["finished_at"], error=job["error"],
                     result=job["result"], params=params,
                     results_url=f"/v1/jobs/{job['id']}/results" if job["kind"] != "retrain" else None)
