"""Browser-test fixtures: a real JupyterLab server and headless system Chromium.

Reusable by any UI test under ``tests/ui/``:

- ``lab_server`` (session): ``jupyter lab`` with the mesh_magics server extension,
  temporary root/settings/workspaces/runtime dirs, a token and ``expose_app_in_browser``;
  stopped (with its kernels and their meshes) at the end of the session.
- ``browser`` (session): system ``/usr/bin/chromium`` through Playwright
  (never ``playwright install``: there is no download on these machines).
- ``page`` (per test): a fresh browser context on ``/lab``, console errors collected in
  ``page.console_errors``; a screenshot lands in ``artifacts/ui/`` when the test fails.
- ``lab`` (per test): a :class:`_lab.LabPage` on ``page`` (open notebooks, run cells,
  open the Mesh panel, screenshots). Sessions are shut down after each test.

Everything skips, with the reason, when Chromium, playwright, the built extension or
the server extension is missing, so the rest of the suite runs anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from _lab import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, LabPage, LabServer, serving, skip_reason

# Console messages that are not the page's fault (favicons, the news feed when offline).
BENIGN_CONSOLE = re.compile(r"favicon|Failed to load resource.*(news|notebook/api/news)|fetchNews")


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    with serving(tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture(scope="session")
def browser(lab_server: LabServer) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture()
def page(browser: Any, lab_server: LabServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.console_errors = []

    def on_console(message: Any) -> None:
        if message.type == "error" and not BENIGN_CONSOLE.search(message.text):
            page.console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: page.console_errors.append(f"uncaught: {error}"))
    try:
        yield page
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            try:
                page.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}.png"))
            except Exception:  # noqa: BLE001 - best effort on a failing test
                pass
        context.close()
        lab_server.shutdown_kernels()


@pytest.fixture()
def lab(page: Any, lab_server: LabServer) -> LabPage:
    """JupyterLab loaded in ``page`` and ready."""
    lab = LabPage(page, lab_server)
    lab.goto()
    return lab
