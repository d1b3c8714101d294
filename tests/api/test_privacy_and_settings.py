"""Privacy (no clear identity in the database, the job queue, answers or logs) and unsafe settings refused."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys

import pytest
from apitest import PROJECT_DIR, fixture_letters, headers, wait_job

from api.logs import MaskPII
from api.settings import Settings
from triage.errors import ConfigError

SECRETS = ("13812345678", "110101199003071234", "张三", "13900001111")


def test_clear_identities_never_reach_the_database(sqlite_client, sqlite_url):
    letters = fixture_letters()
    sqlite_client.post("/v1/letters", json=letters[0], headers=headers("intake"))
    job = sqlite_client.post("/v1/batches", json={"letters": letters[1:]}, headers=headers("intake")).json()
    wait_job(sqlite_client, job["id"], "intake")
    sqlite_client.post("/v1/reception/check", json={"phone": "13812345678", "matter": "停车费"},
                       headers=headers("reception"))
    path = sqlite_url[len("sqlite:///"):]
    with sqlite3.connect(path) as conn:  # every text of every table, WAL included
        dump = "\n".join(conn.iterdump())
    for secret in SECRETS:
        assert secret not in dump
    assert "138****5678" in dump  # the masked display form is kept


def test_queued_letters_are_sealed(sqlite_client, sqlite_url):
    """While a batch waits, the queue holds hashes and masked forms, never the clear identity."""
    service = sqlite_client.app.state.service
    service.jobs.stop()  # the worker stops: the batch stays queued
    letters = fixture_letters()
    job = sqlite_client.post("/v1/batches", json={"letters": letters}, headers=headers("intake")).json()
    assert job["status"] == "queued"
    items = service.store.pending_items(job["id"], 10)
    assert len(items) == 5 and items[0]["letter"]["masked"]["phone"] == "138****5678"
    assert not any(secret in str(items) for secret in SECRETS)


def test_free_text_in_answers_is_masked(sqlite_client):
    letter = {"id": "pii-1", "title": "联系电话13812345678", "content": "本人身份证110101199003071234，电话13812345678，小区停车收费不合理。",
              "reply": "已联系13812345678本人"}
    sqlite_client.post("/v1/letters", json=letter, headers=headers("intake"))
    for role in ("intake", "handler", "reception", "admin"):
        text = sqlite_client.get("/v1/cases/pii-1", headers=headers(role)).text
        assert "13812345678" not in text and "110101199003071234" not in text
        assert "138****5678" in text
    similar = sqlite_client.post("/v1/letters", json={**letter, "id": "pii-2"}, headers=headers("intake")).text
    assert "13812345678" not in similar and "110101199003071234" not in similar


def test_the_writers_own_name_is_masked_in_every_text_shown(sqlite_client):
    """A name the letter's fields give is masked wherever its text or reply writes it, with no phrase introducing
    it: on the case, among a later letter's similar cases, in the reception desk's list and the intake queue."""
    letter = {"id": "own-1", "title": "王建国反映停车收费", "content": "王建国反映：小区停车收费不合理，物业经理王建军不理睬。",
              "reply": "王建国同志：您好，已责成物业整改。", "petitioner": {"name": "王建国", "phone": "13812345678"}}
    sqlite_client.post("/v1/letters", json=letter, headers=headers("intake"))
    for role in ("intake", "handler", "reception", "admin"):
        text = sqlite_client.get("/v1/cases/own-1", headers=headers(role)).text
        assert "王建国" not in text and "王**反映" in text and "王建军" in text
    later = {"id": "own-2", "content": "小区停车收费不合理，物业经理不理睬，要求整改。"}
    similar = sqlite_client.post("/v1/letters", json=later, headers=headers("intake")).json()["similar"]
    assert any(s["case_id"] == "own-1" for s in similar) and "王建国" not in str(similar)
    assert "王**反映停车收费" in str(similar)
    desk = sqlite_client.post("/v1/reception/check", json={"phone": "13812345678"}, headers=headers("reception"))
    assert "王**反映停车收费" in desk.text and "王建国" not in desk.text
    queue = sqlite_client.get("/ui/api/queue", params={"state": "all"}, headers=headers("intake"))
    assert queue.status_code == 200 and "王**反映" in queue.text and "王建国" not in queue.text


def test_log_lines_are_masked():
    record = logging.LogRecord("sqlalchemy.engine", logging.ERROR, __file__, 1,
                               "insert failed for %s with phone %s", ("110101199003071234", "13812345678"), None)
    try:
        raise ValueError("bad row: 13812345678")
    except ValueError:
        record.exc_info = sys.exc_info()
    MaskPII().filter(record)
    text = logging.Formatter().format(record)
    assert "110101199003071234" not in text and "13812345678" not in text
    assert "110*************34" in text and "138****5678" in text


def test_in_process_logs_are_masked(sqlite_client, caplog):
    from api.logs import install_masking

    install_masking()  # puts the filter on pytest's capture handler too
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("api.service").warning("visitor 13812345678 / 110101199003071234")
        sqlite_client.post("/v1/letters", json=fixture_letters()[4], headers=headers("intake"))
    assert "13812345678" not in caplog.text and "110101199003071234" not in caplog.text


def test_settings_refuse_unsafe_defaults_outside_development():
    Settings(env="development").check()  # development keys are fine in development
    with pytest.raises(ConfigError, match="no API keys"):
        Settings(env="production", api_keys="").check()
    with pytest.raises(ConfigError, match="development API keys"):
        Settings(env="production", api_keys="dev-admin:admin", identity_key="x" * 20).check()
    with pytest.raises(ConfigError) as exc:
        Settings(env="production", api_keys="k1:intake").check()
    assert exc.value.field == "TRIAGE_IDENTITY_KEY"
    with pytest.raises(ConfigError):
        Settings(env="production", api_keys="k1:intake", identity_key="triage-development-identity-key").check()
    with pytest.raises(ConfigError, match="role"):
        Settings(api_keys="k1:superuser").check()
    with pytest.raises(ConfigError, match="repeats"):
        Settings(api_keys="k1:intake,k1:admin").check()
    ok = Settings(env="production", api_keys="k1:intake:wang,k2:admin", identity_key="s" * 20)
    ok.check()
    assert ok.keys()["k1"].actor == "wang" and ok.keys()["k2"].actor.startswith("admin-")


def test_serve_refuses_to_start_without_keys_in_production(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "TRIAGE_ENV": "production", "TRIAGE_DATA_DIR": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "triage.cli", "serve", "--store", f"sqlite:///{tmp_path}/x.db"],
                       cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "TRIAGE_API_KEYS" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_create_app_builds_nothing_heavy(monkeypatch):
    """Creating the app loads no model: that happens in the lifespan."""
    import triage.pipeline
    from api.main import create_app

    def boom(*a, **k):
        raise AssertionError("models loaded outside the lifespan")

    monkeypatch.setattr(triage.pipeline.Triage, "load", boom)
    app = create_app(Settings(env="development"))
    assert app.openapi()["info"]["title"] == "triage"
