"""Plugins, for real: ``tests/plugin_example`` is pip-installed (``--target`` a temporary
directory, removed afterwards), then found through its entry points by fresh Python processes
and by a real IPython kernel whose mesh's workers run the plugin's worker setup. Its second
entry point raises on load: mesh-magics, the IPython extension and the Jupyter server
extension carry on and say which package failed and how to fix it."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _kernel import Kernel

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = Path(__file__).with_name("plugin_example")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The example plugin pip-installed into a directory of its own: ``PYTHONPATH`` for processes."""
    target = tmp_path_factory.mktemp("plugin-site")
    build = tmp_path_factory.mktemp("plugin-build")
    shutil.copytree(EXAMPLE, build / "src")  # pip builds in the source tree: keep tests/ clean
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-input", "--disable-pip-version-check",
           "--target", str(target), str(build / "src")]  # fmt: skip
    if _can_build_offline():
        cmd.insert(4, "--no-build-isolation")  # offline-safe where setuptools can build wheels already
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(target.glob("mesh_magics_example_plugin-*.dist-info"))
    yield os.pathsep.join([str(target), str(ROOT)])
    shutil.rmtree(target, ignore_errors=True)  # the uninstall: nothing was installed elsewhere


def _can_build_offline() -> bool:
    """Whether setuptools here builds wheels itself (>= 70.1, or with the wheel package)."""
    if importlib.util.find_spec("setuptools") is None:
        return False
    from importlib.metadata import version

    major, minor = (int(x) for x in version("setuptools").split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


def python(code: str, pythonpath: str, cwd: Path = ROOT, **env: str) -> dict:
    """Run ``code`` in a fresh interpreter (in ``cwd``); its last stdout line is JSON."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         timeout=240, cwd=str(cwd), env={**os.environ, "PYTHONPATH": pythonpath, **env})  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_plugin_registers_and_the_broken_one_is_reported(installed, tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("a\n\nb\n")
    got = python(
        f"""
        import json
        from mesh_magics import plugins, templates
        from mesh_magics.errors import PluginError
        loaded = plugins.load()
        cat = templates.catalog()
        greet = cat.get("greet")
        try:
            plugins.loader("nope")
            missing = None
        except PluginError as e:
            missing = str(e)
        print(json.dumps({{
            "names": loaded.names, "problems": loaded.problems, "preloads": loaded.preloads,
            "tiles": [t[:2] for t in loaded.tiles], "loaders": plugins.loaders(),
            "lines": plugins.loader("lines")({str(lines)!r}),
            "greet": [greet.origin, [p.name for p in greet.params], greet.render(["who=team"])],
            "missing": missing, "builtin": sorted(n for n, t in cat.templates.items() if t.origin == "builtin"),
        }}))
        """,
        installed,
    )
    assert got["names"] == ["example"]
    assert got["preloads"] == [
        ["example", "mesh_example_plugin.bad_setup"],
        ["example", "mesh_example_plugin.worker_setup"],
    ]
    assert got["tiles"] == [["example", "example"]]
    assert got["loaders"] == {"lines": "example", "example-synthetic": "example"}
    assert got["lines"] == ["a", "b"]
    origin, params, cell = got["greet"]
    assert origin == "plugin example" and params == ["who", "times"]
    assert cell.startswith("%%mesh --name greet\n") and "who = 'team'" in cell
    assert got["builtin"] == ["decode", "index", "whales"]
    assert "registered loaders: example-synthetic, lines" in got["missing"]
    (problem,) = got["problems"]
    assert "plugin 'broken'" in problem and "mesh-magics-example-plugin" in problem
    assert "failing on purpose" in problem and "broken.py" in problem
    assert "pip uninstall mesh-magics-example-plugin" in problem and "mesh.plugins.enabled" in problem


def test_plugins_can_be_turned_off(installed):
    got = python(
        "import json; from mesh_magics import plugins, templates\n"
        "print(json.dumps([plugins.load().names, 'greet' in templates.catalog().templates]))",
        installed,
        DASK_MESH__PLUGINS__ENABLED="false",
    )
    assert got == [[], False]


def test_the_server_extension_loads_despite_the_broken_plugin(installed, tmp_path):
    """A real Jupyter server process with the plugin installed: the log names the broken plugin
    and the mesh routes answer."""
    got = python(
        """
        import json, os, socket, subprocess, sys, time, urllib.request
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log = open("server.log", "w+")
        proc = subprocess.Popen([sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
                                 f"--port={port}", "--ip=127.0.0.1", "--IdentityProvider.token=t0k",
                                 "--ServerApp.root_dir=" + os.getcwd(),
                                 "--ServerApp.jpserver_extensions={'mesh_magics': True}"],
                                stdout=log, stderr=log, text=True)
        version, deadline = None, time.time() + 120
        try:
            while version is None and time.time() < deadline and proc.poll() is None:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/mesh/api/version",
                                             headers={"Authorization": "token t0k"})
                try:
                    version = json.loads(urllib.request.urlopen(req, timeout=5).read())
                except OSError:
                    time.sleep(0.5)
        finally:
            proc.terminate()
            proc.wait(30)
        log.seek(0)
        print(json.dumps({"version": version, "log": log.read()}))
        """,
        installed,
        tmp_path,
        JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
        DASK_MESH__REGISTRY__PATH=str(tmp_path / "reg"),
    )
    assert got["version"] and got["version"]["api"] == 1, got["log"][-3000:]
    assert "plugin 'broken'" in got["log"] and "failing on purpose" in got["log"]


@pytest.mark.kernel
def test_a_kernel_with_the_plugin(installed, tmp_path):
    """The IPython extension loads (warning about the broken plugin), the plugin's template
    runs on the embedded mesh's workers, where its worker setup ran; the tile shows in
    ``%mesh dashboard``; ``%mesh audit`` lists the run."""
    k = Kernel({"PYTHONPATH": installed, "DASK_MESH__HISTORY__PATH": str(tmp_path / "h.sqlite3"),
                "DASK_MESH__AUDIT__PATH": str(tmp_path / "a.sqlite3"),
                "DASK_MESH__REGISTRY__PATH": str(tmp_path / "reg"), "JPY_SESSION_NAME": "team/plugins.ipynb"})  # fmt: skip
    try:
        c = k.run("%load_ext mesh_magics")
        assert c.status == "ok" and "warning: plugin 'broken'" in c.all_text, c.all_text
        c = k.run("%mesh template")
        assert c.status == "ok" and "greet" in c.all_text and "[plugin example]" in c.all_text
        c = k.run("%mesh template greet who=team")  # inserted as the next cell, not run
        assert c.status == "ok" and "inserted" in c.all_text
        (payload,) = [p for p in c.reply["payload"] if p.get("source") == "set_next_input"]
        assert payload["text"].startswith("%%mesh --name greet\n") and "who = 'team'" in payload["text"]
        assert k.run("%mesh up --workers 1 --threads 1 --cpu", timeout=120).status == "ok"
        c = k.run("%mesh template greet who=team times=2 --run", timeout=60)
        assert c.status == "ok", c.all_text
        # the live display may show the first line alone before it shows both: count what it ends with
        assert c.final_text.count("hello team") == 2 and "ready on tcp://" in c.final_text, c.all_text
        # the built-in whale suite on a table read by the plugin's loader, on the workers
        c = k.run("%mesh template whales loader=example-synthetic table=400 top=2 --run", timeout=120)
        assert c.status == "ok" and "top_holders: " in c.all_text and "whale_transfers" not in c.all_text, (
            c.all_text
        )
        c = k.run("%mesh template gret")
        assert c.status == "error" and "Did you mean greet" in c.all_text and "%mesh template" in c.all_text
        c = k.run("%mesh template greet tmes=3")
        assert c.status == "error" and "Did you mean times" in c.all_text
        c = k.run("%mesh dashboard")
        assert c.status == "ok" and "example tile: 1 worker(s)" in c.all_text
        c = k.run("%mesh history --user nobody")
        assert c.status == "ok" and "no runs recorded match" in c.all_text
        c = k.run("%mesh audit --user nobody")
        assert c.status == "ok" and "no runs audited match" in c.all_text
        c = k.run("%mesh audit")
        assert c.status == "ok" and "greet" in c.all_text and "team/plugins.ipynb" in c.all_text
        export = tmp_path / "audit.json"
        assert k.run(f"%mesh audit --export {export}").status == "ok"
        records = {r["name"]: r for r in json.loads(export.read_text())}
        assert set(records) == {"greet", "whales"}
        assert records["greet"]["outcome"] == records["whales"]["outcome"] == "finished"
        assert (
            records["greet"]["notebook"] == "team/plugins.ipynb" and len(records["greet"]["code_hash"]) == 64
        )
        c = k.run(f"%mesh audit --export {export}")
        assert c.status == "error" and "--force" in c.all_text
        k.run("%mesh down", timeout=60)
    finally:
        k.close()
