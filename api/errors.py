"""Every error becomes HTTP here, and only here: a small JSON body naming the field, never a traceback.

``{"error": {"code": "invalid_letter", "message": "…", "field": "content", "request_id": "…"}}``

The library's :class:`~triage.errors.TriageError` hierarchy carries ``code``/``status``/``field``; the service
adds the few it needs (401, 403, 409, 413). Validation errors of FastAPI become 422 (400 for malformed
JSON) without echoing the input, which may carry personal data.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from triage.errors import TriageError

log = logging.getLogger("api")


class Unauthorized(TriageError):
    code = "unauthorized"
    status = 401


class Forbidden(TriageError):
    code = "forbidden"
    status = 403


class Conflict(TriageError):
    code = "conflict"
    status = 409


class InvalidRequest(TriageError):
    """A request that is well-formed JSON but cannot be served as asked (the message names the field)."""

    code = "invalid_request"
    status = 422


class PayloadTooLarge(TriageError):
    code = "payload_too_large"
    status = 413


class Unavailable(TriageError):
    code = "unavailable"
    status = 503


def _body(request: Request, code: str, message: str, field: str | None, extra: dict | None = None) -> dict:
    err = {"code": code, "message": message, "field": field,
           "request_id": getattr(request.state, "request_id", None)}
    if extra:
        err.update(extra)
    return {"error": err}


def field_of(loc: tuple | list) -> str:
    """('body', 'letters', 3, 'content') → 'letters[3].content'; ('query', 'k') → 'k'."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie") and len(parts) > 1:
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


_MESSAGES = {
    "missing": "is required",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "extra_forbidden": "is not a known field",
}


def _message(err: dict) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "string_too_long":
        return f"is too long; the limit is {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        return f"is too short; at least {ctx.get('min_length')} characters"
    if kind == "too_long":
        return f"has too many items; the limit is {ctx.get('max_length')}"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s)"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return (err.get("msg") or "is out of range").replace("Input should be", "must be")
    if kind == "value_error":
        return str(ctx.get("error") or err.get("msg") or "is not valid")
    msg = err.get("msg") or "is not valid"
    return msg.replace("Input should be", "must be").replace("Value error, ", "")


def _allowed_methods(request: Request) -> list[str]:
    """Every method any route serves at this path (Starlette reports only the first route's)."""
    methods: set[str] = set()

    def walk(routes) -> None:
        for route in routes:
            inner = getattr(getattr(route, "original_router", None), "routes", None)
            if inner is not None:
                walk(inner)
            elif getattr(route, "path_regex", None) is not None and route.path_regex.match(request.url.path):
                methods.update(getattr(route, "methods", None) or ())

    walk(request.app.routes)
    return sorted(methods - {"HEAD"}) if methods - {"HEAD"} else sorted(methods)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into the error body above."""

    @app.exception_handler(TriageError)
    async def triage_error(request: Request, exc: TriageError) -> JSONResponse:
        status = exc.status if 400 <= exc.status < 600 else 400
        headers = {"WWW-Authenticate": "APIKey"} if status == 401 else None
        return JSONResponse(_body(request, exc.code, exc.message, exc.field), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            e = next(e for e in errors if e.get("type") == "json_invalid")
            detail = (e.get("ctx") or {}).get("error") or "invalid JSON"
            return JSONResponse(_body(request, "invalid_json", f"the body is not valid JSON ({detail})", "body"),
                                status_code=400)
        fields = [{"field": field_of(e.get("loc", ())), "message": _message(e)} for e in errors[:20]]
        first = fields[0] if fields else {"field": "body", "message": "is not valid"}
        return JSONResponse(_body(request, "invalid_request", f"{first['field']}: {first['message']}", first["field"],
                                  {"errors": fields}), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        code = codes.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such path: {request.url.path}"
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return JSONResponse(_body(request, code, message, "body" if exc.status_code == 413 else None),
                            status_code=exc.status_code, headers=headers or None)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(_body(request, "internal_error", "internal error; the server log has the details "
                                  "under this request id", None), status_code=500)
