"""Service settings, typed, from ``TRIAGE_*`` environment variables, behind a cached :func:`get_settings`.

Outside development (``TRIAGE_ENV=production`` or ``test``) the service refuses to start without API keys,
with the development keys, or with the default identity-hashing key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from triage.errors import ConfigError
from triage.store import DEFAULT_STORE_URL, normalise_url

PROJECT_DIR = Path(__file__).resolve().parent.parent
ROLES = ("intake", "reception", "handler", "admin")
DEFAULT_IDENTITY_KEY = "triage-development-identity-key"  # what triage.privacy falls back to
DEV_API_KEYS = ("dev-intake:intake:dev-intake,dev-reception:reception:dev-reception,dev-handler:handler:dev-handler,"
                "dev-admin:admin:dev-admin")
"""Used only in development when ``TRIAGE_API_KEYS`` is empty; refused anywhere else."""

MAX_BATCH_LETTERS = 500
"""The documented upper limit of letters in one batch or import request (``TRIAGE_MAX_BATCH`` may lower it)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a display name for the audit trail (never the key itself) and a role."""

    actor: str
    role: str


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="ignore", validate_default=True)

    env: Literal["development", "test", "production"] = "development"
    api_keys: SecretStr = Field(SecretStr(""),
                                description='"key:role[:name],…", roles: intake, reception, handler, admin')
    identity_key: SecretStr | None = Field(None, description="HMAC key of identity hashes (read by triage.privacy)")
    store: str = DEFAULT_STORE_URL
    models_dir: Path | None = None          # None → triage's default (models/default)
    profile: str | None = None              # deployment profile with a department directory
    max_batch: int = Field(MAX_BATCH_LETTERS, ge=1, le=MAX_BATCH_LETTERS)
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    default_k: int = Field(10, ge=0, le=50)
    job_chunk: int = Field(16, ge=1, le=256)
    index_save_seconds: float = Field(60.0, gt=0)
    sync_seconds: float = Field(1.0, gt=0)   # how often each worker takes in cases other processes stored
    workers: int = Field(1, ge=1, le=64)     # `triage serve` processes sharing the store (TRIAGE_WORKERS)
    suggest_threads: int = Field(2, ge=1, le=64)   # suggestions one process computes at once; others queue
    warm_up: bool = True
    warm_store: bool = True                 # the leader reads a SQLite store's file into the page cache at start
    warm_store_seconds: float = Field(0.0, ge=0)   # > 0: and again this often (hosts that page out idle cache)
    migrate: bool = True                    # run `alembic upgrade head` at start
    retrain_dir: Path = PROJECT_DIR / "models" / "candidates"
    retrain_embedder: str | None = None     # None → the embedder of the loaded models
    log_level: str = "info"

    def keys(self) -> dict[str, Principal]:
        """API key → :class:`Principal`; raises :class:`ConfigError` on a malformed ``TRIAGE_API_KEYS``."""
        raw = self.api_keys.get_secret_value().strip()
        if not raw and self.env == "development":
            raw = DEV_API_KEYS
        out: dict[str, Principal] = {}
        for n, entry in enumerate(filter(None, (e.strip() for e in raw.split(","))), start=1):
            parts = entry.split(":")
            if len(parts) not in (2, 3) or not parts[0] or parts[1] not in ROLES:
                raise ConfigError(f"entry {n} is not 'key:role' or 'key:role:name' with a role among "
                                  f"{', '.join(ROLES)}", field="TRIAGE_API_KEYS")
            key, role = parts[0], parts[1]
            if key in out:
                raise ConfigError(f"entry {n} repeats a key", field="TRIAGE_API_KEYS")
            fallback = f"{role}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
            name = parts[2] if len(parts) == 3 and parts[2] else fallback
            out[key] = Principal(actor=name[:100], role=role)
        return out

    def check(self) -> None:
        """Refuse unsafe settings outside development (raises :class:`ConfigError` with what to do)."""
        keys = self.keys()
        if self.env == "development":
            return
        if not keys:
            raise ConfigError("no API keys configured; set TRIAGE_API_KEYS=\"key1:intake,key2:reception,key3:handler,"
                              "key4:admin\" (TRIAGE_ENV=development allows built-in development keys)",
                              field="TRIAGE_API_KEYS")
        dev = {e.split(":")[0] for e in DEV_API_KEYS.split(",")}
        if dev & set(keys):
            raise ConfigError("the development API keys are not allowed outside development", field="TRIAGE_API_KEYS")
        ident = self.identity_key.get_secret_value() if self.identity_key else ""
        if not ident or ident == DEFAULT_IDENTITY_KEY:
            raise ConfigError("set TRIAGE_IDENTITY_KEY to a secret of at least 16 characters (it keys the identity "
                              "hashes: keep it stable, or earlier visitors are no longer recognised)",
                              field="TRIAGE_IDENTITY_KEY")
        if len(ident) < 16:
            raise ConfigError("is shorter than 16 characters", field="TRIAGE_IDENTITY_KEY")

    @property
    def store_kind(self) -> str:
        """``sqlite`` or ``postgresql`` (never the URL: it may carry a password)."""
        return normalise_url(self.store).split(":", 1)[0].split("+", 1)[0]


@lru_cache
def get_settings() -> Settings:
    return Settings()
