"""Helpers of the API tests, imported as ``apitest`` (the fixtures are in conftest.py): keys, fixture letters,
PostgreSQL test databases, settings, job polling, and :class:`Server` — ``triage serve`` in a child process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

PROJECT_DIR = Path(__file__).resolve().parents[2]
FIXTURES = PROJECT_DIR / "tests" / "fixtures"
PG_URL = os.environ.get("TRIAGE_TEST_PG_URL")
PG_SKIP = ("no PostgreSQL for the tests: set TRIAGE_TEST_PG_URL "
           "(export TRIAGE_TEST_PG_URL=$(scripts/pg.sh) starts one from Debian's packages)")
KEYS = {"intake": "key-intake-0123456789", "reception": "key-reception-0123456789",
        "handler": "key-handler-0123456789", "admin": "key-admin-0123456789"}
API_KEYS = ",".join(f"{key}:{role}:{role}-tester" for role, key in KEYS.items())
IDENTITY_KEY = "test-identity-key-0123456789"


def headers(role: str | None) -> dict:
    return {"X-API-Key": KEYS[role]} if role else {}


def fixture_letters() -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / "letters.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]


def _pg_admin_url(url: str) -> str:
    base, _, _ = url.rpartition("/")
    return base + "/postgres"


def _pg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


class PgDatabases:
    """Creates a fresh database per use on the test server and drops it afterwards."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine

        self.url = url
        self.admin = create_engine(_pg_url(_pg_admin_url(url)), isolation_level="AUTOCOMMIT")

    def create(self) -> str:
        from sqlalchemy import text

        name = f"triage_t_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        return self.url.rpartition("/")[0] + "/" + name

    def drop(self, url: str) -> None:
        from sqlalchemy import text

        name = url.rpartition("/")[2]
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def make_settings(store: str, models: Path, **overrides):
    from api.settings import Settings

    values = {"env": "development", "api_keys": API_KEYS, "store": store, "models_dir": models,
              "index_save_seconds": 3600, **overrides}
    return Settings(**values)


def wait_job(client, job_id: str, role: str = "admin", timeout: float = 60) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/v1/jobs/{job_id}", headers=headers(role)).json()
        if job["status"] in ("done", "failed", "interrupted"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} not finished after {timeout}s: {job}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``triage serve`` in a child process (uvicorn over real HTTP), started, killed and restarted by tests."""

    def __init__(self, store: str, models: Path, workdir: Path, env: dict | None = None) -> None:
        self.store, self.models, self.workdir = store, models, workdir
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.logs: list[Path] = []
        self.url = ""

    def start(self, timeout: float = 180) -> "Server":
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "TRIAGE_MODELS_DIR": str(self.models), "TRIAGE_API_KEYS": API_KEYS,
               "TRIAGE_ENV": "production", "TRIAGE_IDENTITY_KEY": IDENTITY_KEY,
               "TRIAGE_DATA_DIR": str(self.workdir / "data"), "TRIAGE_INDEX_SAVE_SECONDS": "3600",
               "TRIAGE_LOG_LEVEL": "info", "PYTHONUNBUFFERED": "1",
               # the pair model (HistGradientBoosting) spends ~0.7 s per letter in OpenMP start-up on tiny inputs
               # with all cores; one thread is 6x faster (reported to triage/dedup.py's owner)
               "OMP_NUM_THREADS": "1", **self.extra_env}
        log = self.workdir / f"server-{len(self.logs)}.log"
        self.logs.append(log)
        self.proc = subprocess.Popen([sys.executable, "-m", "triage.cli", "serve", "--store", self.store,
                                      "--host", "127.0.0.1", "--port", str(self.port)],
                                     cwd=PROJECT_DIR, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited with {self.proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/v1/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.kill()
        raise AssertionError(f"the server did not answer within {timeout}s:\n{log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, nothing is flushed or saved."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_text(self) -> str:
        return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in self.logs if p.exists())

    def client(self, role: str | None = None, timeout: float = 60) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=headers(role), timeout=timeout)
