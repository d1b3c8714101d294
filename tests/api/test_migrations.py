"""The Alembic migrations create exactly the schema of triage/store.py, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from api import migrate
from triage.store import Base, Store, normalise_url


def _diff(url: str) -> list:
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()


def test_upgrade_head_matches_the_models(store_url):
    assert migrate.upgrade(store_url) == migrate.head()
    assert _diff(store_url) == []
    assert migrate.upgrade(store_url) == migrate.head()  # idempotent


def test_downgrade_and_upgrade_again(store_url):
    from alembic import command

    migrate.upgrade(store_url)
    cfg = migrate.alembic_config(store_url)
    command.downgrade(cfg, "base")
    engine = create_engine(normalise_url(store_url))
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    migrate.upgrade(store_url)
    assert _diff(store_url) == []


def test_a_store_made_by_the_cli_is_stamped_then_upgraded(store_url):
    store = Store(store_url).open()  # create_all, as `triage import` does
    store.engine.dispose()
    assert migrate.current(store_url) is None
    assert migrate.upgrade(store_url) == migrate.head()
    assert _diff(store_url) == []


def test_an_old_store_gets_the_new_tables(store_url):
    """A store at revision 0001 (before jobs) is upgraded in place, its cases kept."""
    from alembic import command

    command.upgrade(migrate.alembic_config(store_url), "0001")
    store = Store(store_url).open(create=False)
    store.add_cases([{"id": "old-1", "content": "旧的案件", "norm_hash": "h"}], "m")
    store.engine.dispose()
    migrate.upgrade(store_url)
    store = Store(store_url).open(create=False)
    assert store.get_case("old-1")["content"] == "旧的案件" and store.get_job("none") is None
    store.engine.dispose()
