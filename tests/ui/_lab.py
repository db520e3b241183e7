"""Helpers for browser tests: a real JupyterLab server and a page driving it.

Used through the fixtures of ``tests/ui/conftest.py`` (``lab_server``, ``page``,
``lab``); nothing here starts anything on import.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "ui"
CHROMIUM = Path(os.environ.get("MESH_UI_CHROMIUM", "/usr/bin/chromium"))
# Flags that make Debian's Chromium quiet and root-safe in a container (toolchain §5).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PANEL_ID = "mesh-magics-panel"
# Console messages that are not the page's fault (favicons, the news feed when offline).
BENIGN_CONSOLE = re.compile(r"favicon|Failed to load resource.*(news|notebook/api/news)|fetchNews")
# Hide the "get notified about Jupyter news" toast that covers screenshots.
SETTINGS_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"checkForUpdates": False, "fetchNews": "false"}
}


# Front-end extensions the test extra installs beside ours (the peers of the benchmarks, and
# dask-labextension for the side-by-side test). Disabled unless a server asks for them, so each
# test sees mesh-magics alone: dask-labextension 7 fails to activate in Notebook 7, for one.
OTHER_EXTENSIONS = ("dask-labextension", "ipyparallel-labextension", "@jupyterhub/jupyter-server-proxy")


def built_labextension() -> Path | None:
    """The built extension: the source build (``npm run build``), else an installed copy."""
    candidates = [
        REPO / "mesh_magics" / "labextension",
        Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "mesh-magics",
    ]
    for path in candidates:
        if (path / "package.json").is_file() and (path / "static" / "style.js").is_file():
            return path
    return None


def skip_reason() -> str | None:
    """Why browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "python playwright is not installed (pip install playwright)"
    if built_labextension() is None:
        return "the JupyterLab extension is not built (cd labextension && npm ci && npm run build)"
    try:
        import mesh_magics.server  # noqa: F401
    except ImportError as error:
        return f"the mesh_magics server extension does not import: {error}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    """A ``jupyter lab`` (or, with ``app="notebook"``, a Notebook 7) process with its own
    root, settings, data and runtime dirs."""

    base: Path
    app: str = "jupyterlab"
    port: int = field(default_factory=free_port)
    token: str = "mesh-ui-test-token"
    process: subprocess.Popen | None = None
    #: load the other installed front-end extensions too (:data:`OTHER_EXTENSIONS`)
    others: bool = False

    @property
    def root_dir(self) -> Path:
        return self.base / "root"

    @property
    def log_path(self) -> Path:
        return self.base / "lab.log"

    @property
    def env(self) -> dict[str, str]:
        """The environment of the server and of the kernels it starts."""
        env = dict(os.environ)
        env.update(
            JUPYTER_PATH=os.pathsep.join(filter(None, [str(self.base / "data"), env.get("JUPYTER_PATH")])),
            JUPYTER_DATA_DIR=str(self.base / "user-data"),
            JUPYTER_RUNTIME_DIR=str(self.base / "runtime"),
            JUPYTER_CONFIG_DIR=str(self.base / "config"),
            PYTHONUNBUFFERED="1",
        )
        return env

    def url(self, path: str = "", **query: str) -> str:
        query = {"token": self.token, **query}
        qs = "&".join(f"{k}={urllib.request.quote(v)}" for k, v in query.items())
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}?{qs}"

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the server's REST API with the token; returns decoded JSON (or None)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
        return json.loads(text) if text else None

    def start(self, timeout: float = 90.0) -> None:
        for sub in ("root", "data/labextensions", "app-settings", "user-settings", "workspaces", "runtime"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        # The freshly built extension wins over any installed copy: JUPYTER_PATH comes first.
        link = self.base / "data" / "labextensions" / "mesh-magics"
        source = built_labextension()
        if source is not None and not link.exists():
            link.symlink_to(source, target_is_directory=True)
        (self.base / "app-settings" / "overrides.json").write_text(json.dumps(SETTINGS_OVERRIDES))
        labconfig = self.base / "config" / "labconfig"  # JUPYTER_CONFIG_DIR's page config
        labconfig.mkdir(parents=True, exist_ok=True)
        disabled = {} if self.others else {name: True for name in OTHER_EXTENSIONS}
        (labconfig / "page_config.json").write_text(json.dumps({"disabledExtensions": disabled}))
        app = "LabApp" if self.app == "jupyterlab" else "JupyterNotebookApp"
        command = [
            sys.executable,
            "-m",
            self.app,
            "--no-browser",
            f"--port={self.port}",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.allow_root=True",
            f"--ServerApp.root_dir={self.root_dir}",
            '--ServerApp.jpserver_extensions={"mesh_magics": True}',
            f"--{app}.expose_app_in_browser=True",
            f"--{app}.app_settings_dir={self.base / 'app-settings'}",
            f"--{app}.user_settings_dir={self.base / 'user-settings'}",
            f"--{app}.workspaces_dir={self.base / 'workspaces'}",
        ]
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            cwd=self.root_dir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kernels and workers end with it
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"jupyter {self.app} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                self.api("GET", "api/status")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"jupyter {self.app} did not answer within {timeout:.0f}s:\n{self.log_tail()}")

    def shutdown_kernels(self) -> None:
        """End every session (and its kernel, and the kernel's mesh)."""
        try:
            for session in self.api("GET", "api/sessions") or []:
                self.api("DELETE", f"api/sessions/{session['id']}")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        self.shutdown_kernels()
        process.send_signal(signal.SIGTERM)  # the server shuts its kernels down
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        # Anything left in the server's own process group (kernels, workers) goes too.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A notebook of code cells (not run) at ``path``."""
    notebook = {
        "cells": [
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
            for source in cells
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook, indent=1))
    return path


class LabPage:
    """A Playwright page on JupyterLab, with the few moves the UI tests need."""

    def __init__(self, page: Any, server: LabServer) -> None:
        self.page = page
        self.server = server

    # -- app ------------------------------------------------------------------

    def goto(self) -> None:
        """Load Lab on a fresh, empty workspace (nothing restored from an earlier test)."""
        workspace = f"ui-{uuid.uuid4().hex[:8]}"
        self.page.goto(self.server.url(f"lab/workspaces/{workspace}", reset=""))
        self.page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=60_000)
        self.page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started", timeout=30_000)

    def execute(self, command: str, args: dict | None = None, *, wait: bool = True) -> Any:
        """Run a JupyterLab command, as the palette would.

        With ``wait=False`` the call returns once the command started: commands such as
        ``notebook:run-cell`` resolve only when the cell has finished.
        """
        if not wait:
            self.page.evaluate(
                "([command, args]) => { window.jupyterapp.commands.execute(command, args || {}); }",
                [command, args],
            )
            return None
        return self.page.evaluate(
            "([command, args]) => window.jupyterapp.commands.execute(command, args || {})", [command, args]
        )

    def screenshot(self, name: str, locator: Any = None) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        (locator or self.page).screenshot(path=str(path))
        return path

    # -- the Mesh panel ---------------------------------------------------------

    @property
    def panel(self) -> Any:
        return self.page.locator(f"#{PANEL_ID}")

    @property
    def panel_tab(self) -> Any:
        return self.page.locator(f'.jp-SideBar.jp-mod-left li[data-id="{PANEL_ID}"]')

    def open_panel(self) -> Any:
        if not self.panel.is_visible():
            self.panel_tab.click()
        self.panel.wait_for(state="visible")
        return self.panel

    # -- notebooks ----------------------------------------------------------------

    def open_notebook(self, name: str, cells: list[str]) -> None:
        """Write a notebook into the server's root, open it and wait for an idle kernel."""
        write_notebook(self.server.root_dir / name, cells)
        self.execute("docmanager:open", {"path": name, "factory": "Notebook"})
        self.page.wait_for_function(
            """(name) => {
                 const w = window.jupyterapp.shell.currentWidget;
                 const kernel = w && w.context && w.context.path === name && w.sessionContext.session?.kernel;
                 return kernel && kernel.status === 'idle';
               }""",
            arg=name,
            timeout=90_000,
        )

    def cell(self, index: int) -> Any:
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)

    def run_cell(self, index: int) -> None:
        """Select cell ``index`` of the current notebook and run it (a normal, visible execute).

        Returns at once; :meth:`wait_cell_done` waits for the end.
        """
        self.page.evaluate(
            "(i) => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = i; }", index
        )
        self.execute("notebook:run-cell", wait=False)

    def wait_cell_done(self, index: int, timeout: float = 120_000) -> None:
        """Wait until cell ``index`` has an execution count and the kernel is idle."""
        self.page.wait_for_function(
            """(i) => {
                 const w = window.jupyterapp.shell.currentWidget;
                 const cell = w.content.widgets[i];
                 return cell.model.executionCount !== null && !cell.hasClass('jp-mod-running')
                   && w.sessionContext.session?.kernel?.status === 'idle';
               }""",
            arg=index,
            timeout=timeout,
        )

    def active_cell(self) -> tuple[int, str]:
        """Index and source of the current notebook's active cell."""
        return tuple(
            self.page.evaluate(
                """() => { const nb = window.jupyterapp.shell.currentWidget.content;
                           return [nb.activeCellIndex, nb.activeCell.model.sharedModel.getSource()]; }"""
            )
        )

    def cell_output(self, index: int) -> str:
        return self.cell(index).locator(".jp-OutputArea").inner_text()


def copy_artifact(source: Path, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if source.exists():
        shutil.copy(source, ARTIFACTS / name)


@contextmanager
def serving(
    base: Path, app: str = "jupyterlab", log_name: str = "jupyter-lab.log", others: bool = False
) -> Iterator[LabServer]:
    """A started server for the ``with`` block; stopped after it, its log copied to the artifacts."""
    server = LabServer(base, app=app, others=others)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        copy_artifact(server.log_path, log_name)


@contextmanager
def browser_page(browser: Any, request: Any) -> Iterator[Any]:
    """A fresh context and page of ``browser``: console errors collected in
    ``page.console_errors``, a screenshot in ``artifacts/ui/`` if the test failed."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.console_errors = []

    def on_console(message: Any) -> None:
        if message.type == "error" and not BENIGN_CONSOLE.search(message.text):
            page.console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: page.console_errors.append(f"uncaught: {error.stack or error}"))
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
