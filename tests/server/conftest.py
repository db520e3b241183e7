"""Fixtures of the server extension's tests: a registry, a history, a busy "kernel", a Jupyter server.

pytest-jupyter's server fixtures (``jp_fetch``, ``jp_ws_fetch``, ...) and its
hooks that run ``async def`` tests are imported HERE rather than registered as a
plugin, so they (and their autouse fixtures) apply to this directory only and
leave the rest of the suite as it was.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403 - fixtures and the async-test hooks

HERE = Path(__file__).parent


@dataclass
class MeshEnv:
    registry: Path
    history: Path  # the default database (mesh.history.path)
    audit: Path  # the default audit trail (mesh.audit.path)


@pytest.fixture(scope="module")
def mesh_env(tmp_path_factory):
    """A private registry directory and default history path, set in dask.config for the module."""
    import dask

    root = tmp_path_factory.mktemp("mesh-server")
    env = MeshEnv(registry=root / "registry", history=root / "history.sqlite3", audit=root / "audit.sqlite3")
    settings = {"mesh.registry.path": str(env.registry), "mesh.history.path": str(env.history),
                "mesh.audit.path": str(env.audit)}  # fmt: skip
    with dask.config.set(settings):
        yield env


class BusyKernel:
    """A process owning a 1-worker mesh that runs code blocking, like a kernel in a ``%%mesh`` cell."""

    def __init__(self, env: MeshEnv) -> None:
        child_env = dict(
            os.environ,
            DASK_MESH__REGISTRY__PATH=str(env.registry),
            DASK_MESH__HISTORY__PATH=str(env.history),
            DASK_MESH__AUDIT__PATH=str(env.audit),
            PYTHONUNBUFFERED="1",
        )
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "_busy_kernel.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env,
            cwd=str(HERE.parent.parent),
        )
        ready = self.read(60)
        self.address: str = ready["ready"]
        self.id: str = ready["id"]

    def read(self, timeout: float) -> dict[str, Any]:
        """The next JSON line the process prints (skipping any other output)."""
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"busy kernel exited with {self.proc.wait(5)}")
            if line.startswith("{"):
                return json.loads(line)
        raise TimeoutError(f"busy kernel said nothing for {timeout} s")

    def start_run(self, code: str, name: str | None = None) -> None:
        """Start a blocking run; the process is busy until it ends (read its result with read())."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"run": code, "name": name}) + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"down": True}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(20)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture(scope="module")
def busy_kernel(mesh_env):
    kernel = BusyKernel(mesh_env)
    yield kernel
    kernel.stop()
