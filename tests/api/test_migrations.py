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


def test_identity_lookup_reads_the_newest_cases_from_the_new_index(store_url):
    """0004: (kind, hash, case_pk). A CLI store made before it gets the index when opened; a look-up returns the
    newest cases of any listed identity, newest first, at most ``limit``."""
    from sqlalchemy import text

    store = Store(store_url).open()
    with store.engine.begin() as conn:   # as a store made before 0004 was
        conn.execute(text("DROP INDEX ix_identity_kind_hash_case"))
        conn.execute(text("CREATE INDEX ix_identity_kind_hash ON identities (kind, hash)"))
    store.add_cases([{"id": f"c{i}", "content": f"第{i}封信", "norm_hash": f"h{i}",
                      "identity_hashes": [("account", "many" if i % 2 else "few")] + ([("phone", "p1")] if i == 3 else [])}
                     for i in range(1, 61)], "m")
    store.engine.dispose()
    store = Store(store_url).open()
    names = {ix["name"] for ix in inspect(store.engine).get_indexes("identities")}
    assert "ix_identity_kind_hash_case" in names
    newest_odd = [store.pk_for(f"c{i}") for i in range(59, 0, -2)]
    assert store.pks_by_identity([("account", "many")], limit=5) == newest_odd[:5]
    both = store.pks_by_identity([("account", "few"), ("phone", "p1")], limit=100)
    assert both == sorted([store.pk_for(f"c{i}") for i in range(2, 61, 2)] + [store.pk_for("c3")], reverse=True)
    assert store.pks_by_identity([("account", "nobody")]) == [] and store.pks_by_identity([]) == []
    store.engine.dispose()
    assert migrate.upgrade(store_url) == migrate.head() and _diff(store_url) == []
