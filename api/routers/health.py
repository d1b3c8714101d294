"""Health (no key needed) and the loaded models with the metrics measured when they were trained."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ..deps import ANY_ROLE, get_service, require
from ..schemas import HealthPublic, ModelPublic
from ..service import Service
from ..settings import Principal
from .common import errors

router = APIRouter(prefix="/v1", tags=["health"])


@router.get("/health", response_model=HealthPublic, summary="Liveness and what is loaded")
def health(service: Service = Depends(get_service)):
    """Answers once models, store and indexes are loaded (uvicorn accepts no request before). ``index.vectors``
    equals ``cases`` when the indexes have caught up with the store."""
    return service.health()


@router.get("/model", response_model=ModelPublic, summary="Model versions and their held-out metrics",
            responses=errors(401, 403))
def model(principal: Principal = Depends(require(*ANY_ROLE)), service: Service = Depends(get_service)):
    m = service.triage.manifest
    return {"version": service.model_version, "embedder": m.get("embedder") or {},
            "components": list(m.get("components") or []), "created": m.get("created"),
            "metrics": m.get("metrics") or {}, "libraries": m.get("libraries") or {},
            "decisions_used": m.get("decisions_used"), "router": service.triage.router is not None,
            "labels": {part: service.labels(part) for part in ("domain", "type")},
            "type_history": th.metrics if (th := service.triage.type_history) is not None else None}
