"""Alembic environment for the case store: the target schema is ``triage.store.Base.metadata``.

The URL comes from, in order: a connection handed in by the service (``config.attributes["connection"]``),
``-x url=...`` on the command line, ``sqlalchemy.url`` in alembic.ini, ``TRIAGE_STORE``, the default SQLite file.
SQLite runs in batch mode so that later ALTERs work there too.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine

from triage.store import Base, normalise_url

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and config.attributes.get("connection") is None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    x = context.get_x_argument(as_dictionary=True)
    return normalise_url(x.get("url") or config.get_main_option("sqlalchemy.url") or None)


def _configure(connection=None, url: str | None = None) -> None:
    dialect = connection.dialect.name if connection is not None else url.split(":", 1)[0]
    context.configure(connection=connection, url=url, target_metadata=target_metadata,
                      render_as_batch=dialect.startswith("sqlite"), compare_type=True,
                      literal_binds=connection is None)


def run_offline() -> None:
    _configure(url=_url())
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url())
    try:
        with engine.connect() as conn:
            _configure(connection=conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
