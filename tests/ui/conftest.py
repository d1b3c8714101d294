"""Fixtures of the browser tests: Debian's Chromium driven by Playwright (no browser download), one real
``triage serve`` (uvicorn) on a temporary SQLite store with the session's small models, seeded with a month
of history and a few new letters, and a fresh browser context per test.

Without Chromium (or Playwright, or a CJK font) the tests skip — or fail, naming the fix, when
``TRIAGE_REQUIRE_BROWSER=1`` (``make test`` sets it). Screenshots go to ``test-output/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_DIR / "tests" / "api"))  # apitest: keys and the server process
sys.path.insert(0, str(Path(__file__).resolve().parent))  # ui_seed, ui_helpers

import ui_seed
from apitest import KEYS, Server
from ui_helpers import CHROMIUM, CHROMIUM_ARGS, SETUP_HINT, shot

REQUIRE_BROWSER = os.environ.get("TRIAGE_REQUIRE_BROWSER") == "1"


def _missing(reason: str):
    if REQUIRE_BROWSER:
        pytest.fail(f"browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def _has_cjk_font() -> bool:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc").exists()
    out = subprocess.run([fc_list, ":lang=zh", "family"], check=False, capture_output=True, text=True,
                         timeout=30).stdout
    return bool(out.strip())


@pytest.fixture(scope="session")
def browser():
    """Chromium, headless, launched once per session (checked before any model is trained)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed (pip install playwright==1.65.2, in requirements.txt)")
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        _missing(f"no Chromium at {CHROMIUM}; {SETUP_HINT}")
    if not _has_cjk_font():
        _missing(f"no CJK font: every Chinese character would render as an empty box; {SETUP_HINT}")
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
        except Exception as exc:  # noqa: BLE001 — a broken install: say so, without a wall of driver output
            _missing(f"Chromium at {CHROMIUM} did not start ({str(exc).splitlines()[0][:200]}); {SETUP_HINT}")
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def ui_models(request) -> Path:
    """The session's small models (``tests/conftest.py::small_models``), or ``TRIAGE_TEST_SMALL_MODELS``."""
    given = os.environ.get("TRIAGE_TEST_SMALL_MODELS")
    if given and (Path(given) / "manifest.json").exists():
        return Path(given)
    return request.getfixturevalue("small_models")


@pytest.fixture(scope="session")
def ui_server(browser, ui_models, tmp_path_factory):
    """A real server (TRIAGE_ENV=production, role keys set) with history imported and new letters submitted."""
    work = tmp_path_factory.mktemp("ui")
    server = Server(f"sqlite:///{work}/store.db", ui_models, work).start()
    try:
        seeded = ui_seed.seed(server.url, KEYS)
        yield SimpleNamespace(url=server.url, seeded=seeded, server=server, keys=KEYS)
    finally:
        server.stop()
    log = server.log_text()
    for secret in ("13812345678", "110101199003071234", "13900001111", "110101198001010011"):
        assert secret not in log, "a clear identity reached the server log"
    assert "Traceback" not in log, log[-3000:]


@pytest.fixture
def page(browser, ui_server, request):
    """A fresh context (own sessionStorage) and page; JavaScript errors fail the test."""
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    context.set_default_timeout(15_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        shot(pg, f"FAILED-{request.node.name}")
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
