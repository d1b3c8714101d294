"""Bring a store's schema to the latest Alembic revision (the service does this at start).

A store created earlier by the command line (``Store.open()`` → ``create_all``) has the tables but no
``alembic_version``: it is stamped at the revision its tables match, then upgraded from there.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from triage.store import normalise_url

log = logging.getLogger("api.migrate")

PROJECT_DIR = Path(__file__).resolve().parent.parent
# The tables each revision adds: how to recognise a store made by create_all at that revision.
REVISION_TABLES = (("0001", {"cases", "identities", "case_vectors", "suggestions", "decisions", "audit"}),
                   ("0002", {"jobs", "job_items"}),
                   ("0003", {"case_matters"}))
# 0004 adds an index only: a create_all store is stamped 0003 and 0004 runs with IF NOT EXISTS.


def alembic_config(url: str) -> Config:
    cfg = Config(str(PROJECT_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_DIR / "migrations"))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def head() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current(url: str) -> str | None:
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str) -> str:
    """``alembic upgrade head`` on ``url`` (stamping a create_all store first); returns the revision reached."""
    url = normalise_url(url)
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    cfg = alembic_config(url)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            tables = set(inspect(conn).get_table_names())
            if "alembic_version" not in tables and "cases" in tables:
                matched = None
                for rev, needed in REVISION_TABLES:
                    if needed <= tables:
                        matched = rev
                    else:
                        break
                if matched:
                    log.info("store has tables but no migration history; stamping revision %s", matched)
                    cfg.attributes["connection"] = conn
                    command.stamp(cfg, matched)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
