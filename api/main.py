"""The app: :func:`create_app` (settings checked, routers and error handlers installed, nothing loaded) and
its lifespan (migrations, models, indexes, warm-up, job worker); :func:`serve` runs it under uvicorn.

    triage serve --store sqlite:///data/triage.db --port 8000
    triage serve --store sqlite:///data/triage.db --workers 2
    uvicorn --factory api.main:app_from_env --workers 2   # the same app, settings from TRIAGE_* variables
"""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from pydantic import ValidationError

from triage.errors import TriageError

from . import errors
from .logs import install_masking, log_config
from .routers import admin, cases, compare, decisions, health, jobs, letters, reception, stats, ui
from .service import API_VERSION, Service
from .settings import Settings, get_settings

log = logging.getLogger("api")

DESCRIPTION = """
Triage for petitions (信访) and citizen messages (12345): every new letter gets a suggested domain, type and
responsible department with evidence, a duplicate verdict against what is stored, and similar past cases;
people record their decisions on each part; the reception desk checks a visitor's earlier cases.

**Authentication**: send `X-API-Key`. Each key has one role — `intake`, `reception`, `handler`, `admin` — set in
`TRIAGE_API_KEYS` on the server. No key → 401, a role that may not → 403.

**Errors** are `{"error": {"code", "message", "field", "request_id"}}` with a 4xx status naming the field;
malformed JSON is 400, an invalid field 422, a body over the limit 413.

**Privacy**: ID numbers and phones are stored only as keyed hashes (matching) and masked forms (display); free
text in answers is masked; only `reception` and `admin` see a case's (masked) petitioner.
"""

TAGS = [
    {"name": "letters", "description": "Intake: submit, dry-run, batch pre-sorting"},
    {"name": "jobs", "description": "Progress and results of background jobs"},
    {"name": "cases", "description": "Stored cases, similar cases (类案推送), duplicates (智能判重)"},
    {"name": "decisions", "description": "A person's decision on each part of a suggestion"},
    {"name": "reception", "description": "Visitor identity check and duplicate-visit alert (重复访提醒)"},
    {"name": "compare", "description": "Two letters: duplicate, related or unrelated"},
    {"name": "stats", "description": "Volumes and acceptance rates"},
    {"name": "health", "description": "Health and model versions"},
    {"name": "admin", "description": "History import, retraining, audit trail"},
]


class RequestContext:
    """Pure ASGI middleware: a request id (``X-Request-ID``) on every answer, and the body size limit (413)."""

    def __init__(self, app, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if given and len(given) <= 64 and given.isprintable() else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", request_id.encode())]
            await send(message)

        limit = self.max_body_bytes
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > limit
            except ValueError:
                too_big = False
            if too_big:
                await _send_error(send_with_id, 413, request_id, "payload_too_large", "body",
                                  f"the body is larger than {limit} bytes; split it (batches: at most 500 letters)")
                return
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    from starlette.exceptions import HTTPException

                    raise HTTPException(413, f"the body is larger than {limit} bytes; split it")
            return message

        await self.app(scope, limited_receive, send_with_id)


async def _send_error(send, status: int, request_id: str, code: str, field: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "field": field,
                                 "request_id": request_id}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings | None = None, *, triage=None) -> FastAPI:
    """Build the app. Settings are checked now (unsafe settings refuse to start); models load in the lifespan.

    ``triage``: an already loaded :class:`~triage.pipeline.Triage` to use instead of loading one (tests).
    """
    settings = settings or get_settings()
    settings.check()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        install_masking()
        service = Service(settings, triage=triage)
        await to_thread.run_sync(service.start)
        app.state.service = service
        try:
            yield
        finally:
            await to_thread.run_sync(service.stop)

    app = FastAPI(title="triage", version=API_VERSION, description=DESCRIPTION, openapi_tags=TAGS,
                  lifespan=lifespan, telemetry={"logs": False})
    app.state.settings = settings
    app.state.keys = settings.keys()
    app.openapi = lambda: _openapi(app, settings)
    errors.install(app)
    for module in (letters, jobs, compare, cases, decisions, reception, stats, health, admin):
        app.include_router(module.router)
    app.include_router(ui.router)  # the pages (来访接待, 预分拣, 办理, 概览) and their static files
    app.add_middleware(RequestContext, max_body_bytes=settings.max_body_bytes)
    return app


def _openapi(app: FastAPI, settings: Settings) -> dict:
    """The OpenAPI document, with the batch limit this server is configured with (``TRIAGE_MAX_BATCH``)."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes,
                             tags=app.openapi_tags)
        for name in ("BatchCreate", "ImportCreate"):
            letters = schema.get("components", {}).get("schemas", {}).get(name, {}).get("properties", {}).get("letters")
            if letters is not None:
                letters["maxItems"] = settings.max_batch
                letters["description"] = f"at most {settings.max_batch} letters per request"
        app.openapi_schema = schema
    return app.openapi_schema


def serve(store: str | None = None, host: str = "127.0.0.1", port: int = 8000, workers: int | None = None,
          factory: str = "api.main:app_from_env") -> int:
    """``triage serve``: check settings and models, then run uvicorn with ``workers`` processes.

    Each worker holds the models and the index in memory and reads and writes the one store; the workers take in
    each other's cases before matching (``Service.sync_index``), and one of them leads: it runs the job queue and
    saves the index (``api.service.Leadership``). ``factory``: the app factory the workers import (the bench
    serves its fast tier through its own)."""
    import uvicorn

    from triage.pipeline import TriageConfig

    overrides: dict = {"store": store} if store else {}
    if workers is not None:
        overrides["workers"] = workers
    try:
        settings = Settings(**overrides)
        settings.check()
    except TriageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:  # a TRIAGE_* variable of the wrong type
        first = exc.errors()[0]
        name = "TRIAGE_" + str(first["loc"][0]).upper() if first.get("loc") else "a TRIAGE_* variable"
        print(f"error: {name}: {first['msg']}", file=sys.stderr)
        return 2
    models_dir = settings.models_dir or TriageConfig().models_dir
    if not (models_dir / "manifest.json").exists():
        print(f"error: no trained models at {models_dir}; run `make models` (or `triage train --out {models_dir}`)",
              file=sys.stderr)
        return 2
    if settings.workers == 1 and factory == "api.main:app_from_env":
        app = app_from_env(settings)
    else:   # the worker processes build the app themselves, from the same TRIAGE_* settings
        os.environ["TRIAGE_STORE"] = settings.store
        os.environ["TRIAGE_WORKERS"] = str(settings.workers)
        app = factory
    uvicorn.run(app, host=host, port=port, log_config=log_config(settings.log_level), workers=settings.workers,
                factory=isinstance(app, str), timeout_graceful_shutdown=10, server_header=False)
    return 0


def app_from_env(settings: Settings | None = None) -> FastAPI:
    """The app of one serving process (uvicorn's factory with ``--workers``), settings from ``TRIAGE_*``."""
    # One BLAS thread: the request path's matrix products are small, and BLAS threads spinning on a busy
    # 2-core machine turned a 0.5 s p99 into 6.6 s in bench/scale.py ("thread oversubscription",
    # docs/benchmarks.md). torch (the embedder) keeps its own threads.
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    workers = (settings or get_settings()).workers
    if workers > 1:   # the workers share the cores: torch (e5 embedding) takes its share, not all of them
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    return create_app(settings)
