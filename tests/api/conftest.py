"""Fixtures of the API tests: the small models (hashing embedder, trained once per session), a store on
SQLite or on a real PostgreSQL (``TRIAGE_TEST_PG_URL``, started by ``scripts/pg.sh``), an in-process app
per store, and a real ``triage serve`` (uvicorn) process for the tests that need one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from apitest import PG_SKIP, PG_URL, PgDatabases, Server, make_settings

# -- models ---------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def api_models(request) -> Path:
    """The session's small models (``tests/conftest.py::small_models``): hashing embedder, all components.

    ``TRIAGE_TEST_SMALL_MODELS=DIR`` reuses a bundle trained earlier the same way
    (``train(out_dir=DIR, embedder="hashing-256", small=True)``) instead of training one.
    """
    given = os.environ.get("TRIAGE_TEST_SMALL_MODELS")
    if given and (Path(given) / "manifest.json").exists():
        return Path(given)
    return request.getfixturevalue("small_models")


@pytest.fixture(scope="session")
def api_triage(api_models):
    from triage.pipeline import Triage, TriageConfig

    return Triage(TriageConfig(models_dir=api_models)).load()


# -- stores ---------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pg_databases():
    if not PG_URL:
        pytest.skip(PG_SKIP)
    dbs = PgDatabases(PG_URL)
    yield dbs
    dbs.admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path, monkeypatch):
    """A fresh, empty store: a SQLite file, or a new database on the test PostgreSQL server."""
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / "data"))  # where a PostgreSQL store keeps its indexes
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/store.db"
        return
    dbs = request.getfixturevalue("pg_databases")
    url = dbs.create()
    yield url
    dbs.drop(url)


@pytest.fixture
def sqlite_url(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / "data"))
    return f"sqlite:///{tmp_path}/store.db"


# -- the app in process ------------------------------------------------------------------------------

@pytest.fixture
def make_client(api_models, api_triage):
    """``make_client(store_url, **settings)`` → a started TestClient (lifespan run), closed at teardown."""
    from fastapi.testclient import TestClient

    from api.main import create_app

    clients = []

    def make(store: str, **overrides) -> TestClient:
        app = create_app(make_settings(store, api_models, **overrides), triage=api_triage)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client, store_url):
    """A started app on a fresh store (SQLite and PostgreSQL)."""
    return make_client(store_url)


@pytest.fixture
def sqlite_client(make_client, sqlite_url):
    return make_client(sqlite_url)


# -- a real server -----------------------------------------------------------------------------------

@pytest.fixture
def make_server(api_models, tmp_path):
    servers: list[Server] = []

    def make(store: str, models: Path | None = None, **env) -> Server:
        server = Server(store, models or api_models, tmp_path, {k: str(v) for k, v in env.items()})
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
