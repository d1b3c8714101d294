"""Schemathesis against the OpenAPI spec of a real server: zero server errors, responses as documented.

Runs the ``schemathesis`` command line (all phases: examples, coverage, fuzzing, stateful) with the admin
key (every operation reachable) and once without a key, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from apitest import KEYS

CHECKS = ",".join(["not_a_server_error", "status_code_conformance", "content_type_conformance",
                   "response_schema_conformance", "response_headers_conformance", "negative_data_rejection"])


def schemathesis(url: str, workdir: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    assert exe, "schemathesis is not installed (requirements.txt pins it)"
    return subprocess.run([exe, "run", f"{url}/openapi.json", "--seed", "7", "--no-shrink", "--workers", "1",
                           "--request-timeout", "60", "--warnings", "off",
                           "--exclude-path", "/v1/admin/retrain",  # a real training run: test_retraining_…
                           *args],
                          capture_output=True, text=True, timeout=timeout, cwd=workdir)  # its caches go there


def test_no_server_errors(make_server, store_url, tmp_path):
    server = make_server(store_url, TRIAGE_MAX_BATCH=3, TRIAGE_RETRAIN_DIR=tmp_path / "candidates").start()
    admin = f"X-API-Key: {KEYS['admin']}"
    full = schemathesis(server.url, tmp_path, "--checks", CHECKS, "--max-examples", "8", "-H", admin)
    anonymous = schemathesis(server.url, tmp_path, "--checks", CHECKS, "--max-examples", "3",
                             "--phases", "examples,fuzzing")
    server.stop()
    for run in (full, anonymous):
        out = run.stdout + run.stderr
        assert run.returncode == 0, out[-6000:]
        assert "Server error" not in out
    log = server.log_text()
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-4000:]
