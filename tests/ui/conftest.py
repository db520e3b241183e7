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

from collections.abc import Iterator
from typing import Any

import pytest
from _lab import CHROMIUM, CHROMIUM_ARGS, LabPage, LabServer, browser_page, serving, skip_reason


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
    with browser_page(browser, request) as page:
        try:
            yield page
        finally:
            lab_server.shutdown_kernels()


@pytest.fixture()
def lab(page: Any, lab_server: LabServer) -> LabPage:
    """JupyterLab loaded in ``page`` and ready."""
    lab = LabPage(page, lab_server)
    lab.goto()
    return lab
