"""A small hierarchy of errors with stable codes.

Every error the user can cause is a :class:`TriageError`; the CLI prints ``error: <message>`` and
the HTTP layer turns it into a 4xx in one place. Messages name the field (and the line, for files)
and say what to do.
"""

from __future__ import annotations


class TriageError(Exception):
    """Base class. ``code`` is stable and machine-readable; ``status`` is the HTTP status it maps to."""

    code = "triage_error"
    status = 400

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.field = field
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field:
            where.append(f"field '{self.field}'")
        prefix = (", ".join(where) + ": ") if where else ""
        return prefix + self.message

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "field": self.field, "line": self.line}


class InvalidLetter(TriageError):
    """A letter record is malformed: missing/empty content, wrong type, too long."""

    code = "invalid_letter"
    status = 422


class InvalidInput(TriageError):
    """An input file or request cannot be used at all (broken JSON, unknown format)."""

    code = "invalid_input"
    status = 400


class NotFound(TriageError):
    code = "not_found"
    status = 404


class ModelMissing(TriageError):
    """A trained artefact or the embedder is not where the configuration says."""

    code = "model_missing"
    status = 503


class ConfigError(TriageError):
    code = "config_error"
    status = 500
