"""Stats: volumes and how often handlers accept each kind of suggestion."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ..deps import ANY_ROLE, get_service, require
from ..schemas import StatsPublic
from ..service import Service
from ..settings import Principal
from .common import Since, Until, as_datetime, errors, when

router = APIRouter(prefix="/v1", tags=["stats"])


@router.get("/stats", response_model=StatsPublic, summary="Volumes and acceptance rates",
            responses=errors(401, 403, 422))
def stats(since: Since = None,
          until: Until = None,
          principal: Principal = Depends(require(*ANY_ROLE)), service: Service = Depends(get_service)):
    """Cases by channel, domain, status and month, open cases, suggestions made, and per suggestion part
    (domain, type, department, duplicate) the decisions recorded and the share that accepted the top
    suggestion (``acceptance_rate``)."""
    since_iso, until_iso = when(since, "since"), when(until, "until")
    out = service.store.stats(as_datetime(since_iso), as_datetime(until_iso))
    return {**out, "since": since_iso, "until": until_iso}
