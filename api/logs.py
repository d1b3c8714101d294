"""Logging for the service: ID numbers and phones never reach a log line.

:class:`MaskPII` runs :func:`triage.normalise.mask_pii` over the formatted message *and* any traceback text.
It sits on handlers (a filter on a logger does not see records propagated from its children), both in
the uvicorn log config of :func:`log_config` and, for in-process use (tests, embedding), on whatever
handlers are already installed (:func:`install_masking`).
"""

from __future__ import annotations

import logging

from triage.normalise import mask_pii


class MaskPII(logging.Filter):
    """Masks the message, its arguments (kept as arguments: formatters such as uvicorn's read them) and
    any traceback text of a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_pii(record.msg)
        elif record.msg is not None and not record.args:
            record.msg = mask_pii(str(record.msg))
        if isinstance(record.args, tuple):
            record.args = tuple(_mask_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _mask_arg(v) for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_pii(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_pii(record.stack_info)
        return True


def _mask_arg(value):
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, tuple):  # e.g. uvicorn's client address (host, port)
        return tuple(_mask_arg(v) for v in value)
    return mask_pii(str(value))


_LOGGERS = ("", "api", "triage", "uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy", "alembic")


def install_masking() -> None:
    """Put a :class:`MaskPII` on every handler of the service's loggers (idempotent)."""
    for name in _LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, MaskPII) for f in handler.filters):
                handler.addFilter(MaskPII())


def log_config(level: str = "info") -> dict:
    """The ``logging.config`` dict handed to uvicorn: one stderr handler, masked, for all loggers."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"mask_pii": {"()": "api.logs.MaskPII"}},
        "formatters": {
            "default": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            "access": {"()": "uvicorn.logging.AccessFormatter",
                       "fmt": '%(asctime)s %(levelname)s access: %(client_addr)s "%(request_line)s" %(status_code)s',
                       "use_colors": False},
        },
        "handlers": {
            "default": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "default",
                        "filters": ["mask_pii"]},
            "access": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "access",
                       "filters": ["mask_pii"]},
        },
        "loggers": {
            "": {"handlers": ["default"], "level": "WARNING"},
            "api": {"level": level},
            "triage": {"level": level},
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False},
            "alembic": {"level": "WARNING"},
            "jieba": {"level": "WARNING"},
        },
    }
