"""binder/ builds a working environment: the same steps as mybinder, in a fresh venv.

mybinder (repo2docker) installs ``binder/requirements.txt`` and then runs
``binder/postBuild`` from the repository root. No binder is reachable from CI, so
this test does the same in a new virtual environment built from a copy of the
checkout (the files git would give binder), then executes
``notebooks/01-quickstart.ipynb`` in that environment's kernel and checks what it
printed.

Kept quick: pip reuses this machine's cache (postBuild passes ``--no-cache-dir``
only when ``PIP_CACHE_DIR`` is unset, as on mybinder), and an already built
``mesh_magics/labextension/`` (``./dev`` builds it on install) is copied with the
checkout, so the wheel build packages it instead of running npm. Without it the
build needs Node, as on mybinder; the test is skipped where there is none.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parent.parent
PREBUILT = "mesh_magics/labextension"


def _checkout(dest: Path) -> None:
    """The files binder would see: tracked and new (not ignored) files, plus the built extension."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    if (ROOT / PREBUILT / "static" / "style.js").exists():
        shutil.copytree(ROOT / PREBUILT, dest / PREBUILT, dirs_exist_ok=True)


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
            f"\n--- stderr\n{proc.stderr[-4000:]}"
        )
    print(f"binder check: {' '.join(cmd)[:90]}: {time.monotonic() - t0:.0f} s", flush=True)
    return proc.stdout + proc.stderr


def _outputs(cell: dict) -> str:
    text = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            text.append(out["text"])
        elif "data" in out:
            text.append(out["data"].get("text/plain", ""))
        elif out.get("output_type") == "error":
            text.append(f"{out['ename']}: {out['evalue']}")
    return "".join(text)


def test_binder_environment_runs_the_quickstart(tmp_path: Path) -> None:
    if not (ROOT / PREBUILT / "static" / "style.js").exists() and shutil.which("npm") is None:
        pytest.skip("the JupyterLab extension is not built and there is no npm to build it")
    repo, venv, home = tmp_path / "repo", tmp_path / "venv", tmp_path / "home"
    home.mkdir()
    _checkout(repo)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    pip_cache = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")
    env = {
        "HOME": str(home),  # nothing of this machine's ~/.jupyter or ~/.local leaks in
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "LANG": "C.UTF-8",
        "VIRTUAL_ENV": str(venv),
        "PIP_CACHE_DIR": pip_cache,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "PYTHONUNBUFFERED": "1",
    }
    for key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CONFIG_FILE"):  # this machine's pip setup
        if key in os.environ:
            env[key] = os.environ[key]

    # 1. repo2docker: requirements first, then postBuild, both from the repository root
    _run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "-r", "binder/requirements.txt"],
        repo,
        env,
    )
    log = _run(["bash", "binder/postBuild"], repo, env)
    assert "mesh-magics installed" in log

    # 2. what a binder user gets: both extensions on, JupyterLab opening the quickstart
    labext = _run([str(bin_dir / "jupyter"), "labextension", "list"], repo, env)
    assert "mesh-magics" in labext and "enabled" in labext and "OK" in labext, labext
    assert "jupyter_bokeh" in labext or "@bokeh/jupyter_bokeh" in labext, labext
    conf = json.loads(
        (tmp_path / "jupyter-config" / "jupyter_server_config.d" / "mesh_magics_binder.json").read_text()
    )
    assert conf["ServerApp"]["default_url"] == "/lab/tree/notebooks/01-quickstart.ipynb"
    assert (repo / "notebooks" / "01-quickstart.ipynb").exists()
    # mesh-magics is installed, not imported from the checkout
    where = _run(
        [str(bin_dir / "python"), "-c", "import mesh_magics; print(mesh_magics.__file__)"], tmp_path, env
    )
    assert str(venv) in where, where

    # 3. the quickstart runs top to bottom in that environment's kernel
    out = tmp_path / "ran.ipynb"
    _run(
        [
            str(bin_dir / "jupyter"),
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--ExecutePreprocessor.timeout=300",
            "--ExecutePreprocessor.kernel_name=python3",
            "--output",
            str(out),
            "notebooks/01-quickstart.ipynb",
        ],
        repo,
        env,
    )
    nb = nbformat.read(out, as_version=4)  # joins the stored lists of lines
    cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in cells), "a cell did not run"
    errors = [c for c in cells if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert all("raises-exception" in c["metadata"].get("tags", []) for c in errors)
    by_source = {c.source.strip(): _outputs(c) for c in cells}
    assert by_source["%%mesh\nx * 2"].strip() == "84"
    assert by_source["job.result(timeout=30), job.status"].strip() == "(45, 'finished')"
    assert "is down" in by_source["%mesh down"]
