"""A real browser for the web page's tests: Debian's Chromium driven by Playwright.

Playwright's own browser download is never used (`playwright install` fails without the
internet and is not needed): the system's /usr/bin/chromium is launched directly. The
accessibility check is axe-core, as shipped inside the axe-playwright-python package.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Root runs need --no-sandbox (CI and these machines); the policy lets a muted <video> play.
CHROMIUM_ARGS = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
SERIOUS = ("serious", "critical")


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM}: `./vf test` installs Debian's chromium package"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is missing: `./vf test` installs the test extra"
    return None


def artifacts_dir() -> Path:
    """Where screenshots and axe reports go (VF_TEST_ARTIFACTS, else a fixed temp folder)."""
    folder = Path(os.environ.get("VF_TEST_ARTIFACTS")
                  or Path(tempfile.gettempdir()) / "videofactory-test-artifacts") / "web"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (id, impact, help, nodes)."""
    from axe_playwright_python.sync_playwright import Axe

    return list(Axe().run(page).response["violations"])


def serious(violations: list[dict[str, Any]]) -> list[str]:
    """The serious and critical ones, one line each."""
    return [f"{v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(str(node["target"]) for node in v["nodes"])
            for v in violations if v.get("impact") in SERIOUS]
