"""Helpers of the browser tests (the fixtures are in conftest.py): Chromium's place and flags, screenshots,
signing in with a role's key."""

from __future__ import annotations

import os
from pathlib import Path

from apitest import KEYS

PROJECT_DIR = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("TRIAGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = PROJECT_DIR / "test-output" / "screenshots"
SETUP_HINT = "run scripts/setup_browser.sh (apt-get install -y chromium fonts-wqy-microhei)"


def shot(pg, name: str, height: int | None = None) -> Path:
    """Save a screenshot of the whole page (or its top ``height`` pixels) under test-output/screenshots/NAME.png
    (look at them: Chinese must render)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    clip = {"x": 0, "y": 0, "width": pg.viewport_size["width"], "height": height} if height else None
    pg.screenshot(path=str(path), full_page=True, clip=clip)
    return path


def sign_in(pg, url: str, role: str) -> None:
    """Paste the role's key on the sign-in page; the page moves on to the role's first page."""
    pg.goto(f"{url}/ui/login")
    pg.fill("#key", KEYS[role])
    pg.click("#login-submit")
    pg.wait_for_url(lambda u: "/ui/login" not in u)
