"""The pages people use all day, in Chinese: reception desk (来访接待), intake queue (预分拣), case view (办理),
overview (概览). Server-rendered Jinja2 shells; a little JavaScript fills them from the ``/v1`` API with the key
the user signed in with (kept in the tab's ``sessionStorage``, sent as ``X-API-Key``), so each role sees exactly
what the API lets it see. The pages themselves carry no data and need no key.

Four read-only JSON helpers live here because the ``/v1`` API has no equivalent: who am I (``/ui/api/me``),
the intake queue with each letter's top suggestion (``/ui/api/queue``), volumes by day and domain
(``/ui/api/volumes``) and the label lists for corrections (``/ui/api/labels``). They use the same keys and
role checks as ``/v1`` and never return an identity.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import mimetypes
from functools import lru_cache
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from triage.errors import InvalidLetter
from triage.privacy import mask_shown

from ..deps import ADMIN, ANY_ROLE, HANDLER, INTAKE, RECEPTION, get_principal, get_service, require
from ..service import Service
from ..settings import Principal
from .common import errors, when

router = APIRouter()

UI_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = UI_DIR / "templates"
STATIC_DIR = UI_DIR / "static"

PARTS = ("domain", "type", "department", "duplicate")
QUEUE_SCAN = 1000
"""The queue looks at this many of the newest letters that have a suggestion (imported history has none)."""

# Which pages each role is offered (the API decides what each call may do; this only shapes the menu).
PAGES = {
    RECEPTION: ["reception", "overview"],
    INTAKE: ["queue", "overview"],
    HANDLER: ["queue", "overview"],
    ADMIN: ["reception", "queue", "overview", "import"],
}
HOME = {RECEPTION: "/ui/reception", INTAKE: "/ui/queue", HANDLER: "/ui/queue", ADMIN: "/ui/queue"}
ROLE_NAMES = {RECEPTION: "来访接待", INTAKE: "预分拣", HANDLER: "承办人", ADMIN: "管理员"}

# The pages hold a key in sessionStorage: no inline script, no framing, nothing from elsewhere.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@lru_cache(maxsize=1)
def _templates():
    from fastapi.templating import Jinja2Templates

    return Jinja2Templates(directory=str(TEMPLATES_DIR))


@lru_cache(maxsize=1)
def _static_version() -> str:
    """A short hash of the static files, appended to their URLs so a new release is never served stale."""
    h = hashlib.sha256()
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:10]


def _page(request: Request, template: str, title: str, page: str, status_code: int = 200, **context) -> HTMLResponse:
    return _templates().TemplateResponse(
        request, template, {"title": title, "page": page, "v": _static_version(), **context},
        status_code=status_code, headers=PAGE_HEADERS)


# -- pages -----------------------------------------------------------------------------------------------

@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui", include_in_schema=False)
@router.get("/ui/", include_in_schema=False)
def ui_home(request: Request) -> HTMLResponse:
    """Sends a signed-in user to their role's first page, anyone else to sign-in (decided in the browser)."""
    return _page(request, "home.html", "信访智能分拣", "home")


@router.get("/ui/login", include_in_schema=False)
def login_page(request: Request) -> HTMLResponse:
    return _page(request, "login.html", "登录", "login")


@router.get("/ui/reception", include_in_schema=False)
def reception_page(request: Request) -> HTMLResponse:
    return _page(request, "reception.html", "来访接待", "reception")


@router.get("/ui/queue", include_in_schema=False)
def queue_page(request: Request) -> HTMLResponse:
    return _page(request, "queue.html", "预分拣", "queue")


@router.get("/ui/cases/{case_id}", include_in_schema=False)
def case_page(request: Request, case_id: str) -> HTMLResponse:
    return _page(request, "case.html", "办理", "case", case_id=case_id)


@router.get("/ui/overview", include_in_schema=False)
def overview_page(request: Request) -> HTMLResponse:
    return _page(request, "overview.html", "概览", "overview")


@router.get("/ui/import", include_in_schema=False)
def import_page(request: Request) -> HTMLResponse:
    return _page(request, "import.html", "历史导入", "import")


@router.get("/ui/static/{name:path}", include_in_schema=False)
def static_file(name: str) -> Response:
    """The vendored assets (CSS, scripts); nothing outside ``api/static`` is ever served."""
    try:
        path = (STATIC_DIR / name).resolve()
        found = path.is_relative_to(STATIC_DIR) and path.is_file()
    except (OSError, ValueError):  # a NUL byte, a name too long
        found = False
    if not found:
        return Response("未找到该文件", status_code=404, media_type="text/plain; charset=utf-8")
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if media.startswith("text/") or media in ("application/javascript", "image/svg+xml"):
        media += "; charset=utf-8"
    return FileResponse(path, media_type=media, headers={"Cache-Control": "public, max-age=86400",
                                                          "X-Content-Type-Options": "nosniff"})


# -- JSON helpers of the pages -------------------------------------------------------------------------------

class MePublic(BaseModel):
    role: str
    role_name: str
    name: str
    pages: list[str]
    home: str


@router.get("/ui/api/me", response_model=MePublic, tags=["ui"], summary="The signed-in key's role and pages",
            responses=errors(401))
def me(principal: Principal = Depends(get_principal)):
    """What the sign-in page needs: the key's role, its display name and the pages offered to it."""
    return {"role": principal.role, "role_name": ROLE_NAMES.get(principal.role, principal.role),
            "name": principal.actor, "pages": PAGES.get(principal.role, []), "home": HOME.get(principal.role, "/ui/")}


class LabelsPublic(BaseModel):
    domain: list[str]
    type: list[str]
    department: list[str] = Field(..., description="departments known from the store's cases (for corrections)")


@router.get("/ui/api/labels", response_model=LabelsPublic, tags=["ui"], summary="Label lists for corrections",
            responses=errors(401, 403))
def labels(principal: Principal = Depends(require(*ANY_ROLE)), service: Service = Depends(get_service)):
    from sqlalchemy import func, select

    from triage.store import Case

    with service.store.session() as s:
        rows = s.execute(select(Case.department, func.count(Case.pk)).where(
            Case.deleted.is_(False), Case.department.is_not(None)).group_by(Case.department)
            .order_by(func.count(Case.pk).desc()).limit(500)).all()
    return {"domain": service.labels("domain"), "type": service.labels("type"),
            "department": sorted(d for d, _ in rows if d)}


class QueueItemPublic(BaseModel):
    id: str
    title: str
    excerpt: str
    channel: str | None = None
    received_at: str | None = None
    status: str | None = None
    suggestion_id: int
    model_version: str
    domain: str | None = None
    domain_score: float | None = None
    type: str | None = None
    type_score: float | None = None
    category: str | None = None
    litigation_related: bool = False
    department: str | None = None
    department_score: float | None = None
    verdict: str
    duplicate_of: str | None = None
    duplicate_score: float | None = None
    confidence: float = Field(..., description="the lowest top score of domain, type and department")
    decided: list[str] = Field(..., description="parts with a recorded decision")
    state: Literal["todo", "partial", "done"]


class QueuePublic(BaseModel):
    total: int
    offset: int
    limit: int
    scanned: int = Field(..., description=f"letters looked at (the newest {QUEUE_SCAN} with a suggestion)")
    domains: list[str] = Field(..., description="suggested domains among the letters looked at (for the filter)")
    items: list[QueueItemPublic]


SORTS = ("received", "confidence", "domain", "department", "verdict", "type")


@router.get("/ui/api/queue", response_model=QueuePublic, tags=["ui"],
            summary="New letters with their top suggestion (预分拣)", responses=errors(401, 403, 422))
def queue(offset: int = Query(0, ge=0, le=100_000), limit: int = Query(20, ge=1, le=100),
          state: Literal["todo", "done", "all"] = "todo",
          sort: Literal["received", "confidence", "domain", "department", "verdict", "type"] = "received",
          order: Literal["asc", "desc"] = "desc",
          domain: str | None = Query(None, max_length=200, description="suggested domain"),
          verdict: Literal["duplicate", "related", "new"] | None = None,
          q: str | None = Query(None, max_length=100, description="words in the (masked) title or text"),
          principal: Principal = Depends(require(INTAKE, HANDLER, ADMIN)),
          service: Service = Depends(get_service)):
    """Letters that came in through the service (they have a suggestion), newest first by default, each with
    its top domain, type, department and duplicate verdict and which parts already have a decision. ``todo``:
    not every part decided and not merged; ``done``: every part decided or merged. No identity, text masked."""
    from sqlalchemy import func, select

    from triage.store import Case, Decision, Store, Suggestion

    with service.store.session() as s:
        latest = (select(Suggestion.case_pk.label("case_pk"), func.max(Suggestion.id).label("sid"))
                  .where(Suggestion.case_pk.is_not(None)).group_by(Suggestion.case_pk).subquery())
        rows = s.execute(select(Case, Suggestion).join(latest, latest.c.case_pk == Case.pk)
                         .join(Suggestion, Suggestion.id == latest.c.sid).where(Case.deleted.is_(False))
                         .order_by(Case.pk.desc()).limit(QUEUE_SCAN)).all()
        pks = [c.pk for c, _ in rows]
        decided: dict[int, set[str]] = {}
        for i in range(0, len(pks), 500):
            for pk, part in s.execute(select(Decision.case_pk, Decision.part)
                                      .where(Decision.case_pk.in_(pks[i:i + 500])).distinct()):
                decided.setdefault(pk, set()).add(part)
        # the writer's own name, to mask wherever the text writes it
        idents = Store.identity_keys_of(s, [c.pk for c, _ in rows if (c.petitioner_masked or {}).get("name")])
        items = [_queue_item(c, sug, decided.get(c.pk, set()), idents.get(c.pk, set())) for c, sug in rows]
    domains = sorted({i["domain"] for i in items if i["domain"]})
    if state != "all":
        items = [i for i in items if (i["state"] == "done") == (state == "done")]
    if domain:
        items = [i for i in items if i["domain"] == domain]
    if verdict:
        items = [i for i in items if i["verdict"] == verdict]
    if q and q.strip():
        words = q.strip().split()
        items = [i for i in items if all(w in i["title"] or w in i["_text"] for w in words)]
    key = {"received": lambda i: i["received_at"] or "", "confidence": lambda i: i["confidence"],
           "domain": lambda i: (i["domain"] or "", -(i["domain_score"] or 0)),
           "department": lambda i: (i["department"] or "", -(i["department_score"] or 0)),
           "type": lambda i: (i["type"] or "", -(i["type_score"] or 0)),
           "verdict": lambda i: ({"duplicate": 2, "related": 1}.get(i["verdict"], 0), i["duplicate_score"] or 0)}[sort]
    items.sort(key=key, reverse=(order == "desc"))
    page = items[offset:offset + limit]
    for i in page:
        i.pop("_text", None)
    return {"total": len(items), "offset": offset, "limit": limit, "scanned": len(rows), "domains": domains,
            "items": page}


def _top(payload: dict, part: str, key: str = "label") -> tuple[str | None, float | None]:
    values = payload.get(part) or []
    return (values[0].get(key), values[0].get("score")) if values else (None, None)


def _queue_item(case, sug, decided: set[str], identities: set[str]) -> dict:
    payload = sug.payload or {}
    domain, domain_score = _top(payload, "domain")
    type_, type_score = _top(payload, "type")
    dept, dept_score = _top(payload, "department", "name")
    dups = payload.get("duplicates") or {}
    matches = dups.get("matches") or []
    top_dup = next((m for m in matches if m.get("verdict") == "duplicate"), matches[0] if matches else None)
    scores = [x for x in (domain_score, type_score, dept_score) if x is not None]
    available = {p for p, v in (("domain", domain), ("type", type_), ("department", dept)) if v} | {"duplicate"}
    done = available <= decided or case.status == "merged"

    def shown(text: str) -> str:
        return mask_shown(text, case.petitioner_masked, identities)

    text = shown(case.content or "")
    return {"id": case.ext_id, "title": shown(case.title or "") or text[:30], "excerpt": text[:80], "_text": text,
            "channel": case.channel, "received_at": (case.received_at or case.created_at).isoformat()
            if (case.received_at or case.created_at) else None, "status": case.status,
            "suggestion_id": sug.id, "model_version": sug.model_version,
            "domain": domain, "domain_score": domain_score, "type": type_, "type_score": type_score,
            "category": payload.get("category"), "litigation_related": bool(payload.get("litigation_related")),
            "department": dept, "department_score": dept_score,
            "verdict": dups.get("verdict") or "new",
            "duplicate_of": top_dup.get("case_id") if top_dup else None,
            "duplicate_score": top_dup.get("score") if top_dup else None,
            "confidence": round(min(scores), 4) if scores else 0.0,
            "decided": sorted(decided & set(PARTS)),
            "state": "done" if done else ("partial" if decided else "todo")}


class VolumesPublic(BaseModel):
    since: str
    until: str
    days: list[str]
    domains: list[str] = Field(..., description="the largest domains, then 其他 (other) and 未分类 (none)")
    counts: dict[str, list[int]] = Field(..., description="domain → cases per day, aligned with days")
    total: int
    open: int


@router.get("/ui/api/volumes", response_model=VolumesPublic, tags=["ui"], summary="Cases per day and domain",
            responses=errors(401, 403, 422))
def volumes(days: int = Query(30, ge=1, le=366), until: str | None = Query(None, max_length=64),
            top: int = Query(6, ge=1, le=20),
            principal: Principal = Depends(require(*ANY_ROLE)), service: Service = Depends(get_service)):
    """Cases per day (received date, else the day stored) and domain over ``days`` days ending at ``until``
    (default: the newest case's day), the ``top`` largest domains kept apart."""
    from sqlalchemy import func, select

    from triage.store import CONCLUDED_STATUSES, Case

    store = service.store
    moment = func.coalesce(Case.received_at, Case.created_at)
    day = func.strftime("%Y-%m-%d", moment) if store.url.startswith("sqlite") else func.to_char(moment, "YYYY-MM-DD")
    with store.session() as s:
        if until:
            end = dt.date.fromisoformat(when(until, "until")[:10])
        else:
            newest = s.scalar(select(func.max(moment)).where(Case.deleted.is_(False)))
            end = (newest.date() if isinstance(newest, dt.datetime) else
                   dt.date.fromisoformat(str(newest)[:10]) if newest else dt.date.today())
        try:
            start = end - dt.timedelta(days=days - 1)
        except OverflowError:
            raise InvalidLetter(f"is too early for {days} days before it", field="until") from None
        lo, hi = dt.datetime.combine(start, dt.time.min), dt.datetime.combine(end, dt.time.max)
        conds = [Case.deleted.is_(False), moment >= lo, moment <= hi]
        rows = s.execute(select(day, Case.domain, func.count(Case.pk)).where(*conds).group_by(day, Case.domain)).all()
        open_n = int(s.scalar(select(func.count(Case.pk)).where(
            *conds, func.coalesce(Case.status, "open").not_in(list(CONCLUDED_STATUSES)))) or 0)
    labels = [(start + dt.timedelta(days=i)).isoformat() for i in range(days)]
    at = {d: i for i, d in enumerate(labels)}
    per_domain: dict[str, int] = {}
    for _, dom, n in rows:
        per_domain[dom or "未分类"] = per_domain.get(dom or "未分类", 0) + int(n)
    ranked = [d for d, _ in sorted(per_domain.items(), key=lambda kv: -kv[1]) if d != "未分类"]
    keep = ranked[:top]
    domains = keep + (["其他"] if len(ranked) > top else []) + (["未分类"] if "未分类" in per_domain else [])
    counts = {d: [0] * days for d in domains}
    for d, dom, n in rows:
        name = dom if dom in keep else ("未分类" if not dom else "其他")
        if str(d)[:10] in at:
            counts[name][at[str(d)[:10]]] += int(n)
    return {"since": start.isoformat(), "until": end.isoformat(), "days": labels, "domains": domains,
            "counts": counts, "total": sum(per_domain.values()), "open": open_n}


# Last: any other /ui/ path is a page that does not exist (a Chinese page, not the API's JSON 404).
@router.get("/ui/{rest:path}", include_in_schema=False)
def not_found_page(request: Request, rest: str) -> HTMLResponse:
    return _page(request, "notfound.html", "页面不存在", "notfound", status_code=404)
