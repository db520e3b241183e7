"""Real processes and sockets for the security cases: a Jupyter server, a Dask scheduler,
TLS certificates, and an HTTP server standing in for a dashboard that misbehaves.

Everything listens on 127.0.0.1 only. The child processes import the same mesh_magics
as this process (``PYTHONPATH`` is set to its checkout), and use the case's own
registry, history and Jupyter directories, so nothing of the user's is read or touched.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mesh_magics

from . import Skip

__all__ = [
    "Hostile",
    "JupyterServer",
    "Response",
    "free_port",
    "make_tls",
    "register",
    "scheduler",
]

#: the checkout the child processes import mesh_magics from
ROOT = Path(mesh_magics.__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(base: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process: this checkout first, private Jupyter dirs."""
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        PYTHONUNBUFFERED="1",
        JUPYTER_CONFIG_DIR=str(base / "jupyter-config"),
        JUPYTER_DATA_DIR=str(base / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(base / "jupyter-runtime"),
        DASK_MESH__HISTORY__PATH=str(base / "history.sqlite3"),
        DASK_MESH__REGISTRY__PATH=str(base / "registry"),
        DASK_DISTRIBUTED__LOGGING__DISTRIBUTED="error",
    )
    env.update(extra or {})
    return env


def _wait(proc: subprocess.Popen[Any], ready: Any, what: str, timeout: float, log: Path | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise AssertionError(f"{what} exited with {proc.returncode} before it was ready:\n{tail}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if ready():
                return
        time.sleep(0.2)
    raise AssertionError(f"{what} was not ready after {timeout} s")


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    port: int, method: str, target: str, headers: Mapping[str, str] | None = None, body: bytes | None = None
) -> Response:
    """One raw HTTP request: ``target`` is sent exactly as given (no normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


@dataclass
class JupyterServer:
    """``jupyter server`` with the mesh_magics extension, a token, and auth required."""

    base: Path
    token: str = "mesh-secret-token-" + os.urandom(8).hex()
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.base / "jupyter-server.log"

    def start(self) -> JupyterServer:
        if shutil.which("jupyter") is None and not _has_module("jupyter_server"):
            raise Skip("jupyter_server is not installed")
        self.port = free_port()
        (self.base / "notebooks").mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.base / 'notebooks'}",
            "--ServerApp.open_browser=False",
            *self.args,
        ]
        conf = self.base / "jupyter-config"
        conf.mkdir(parents=True, exist_ok=True)
        server_app = {
            "allow_unauthenticated_access": False,
            # ours alone: the others are not under test, and slow the start
            "jpserver_extensions": {"mesh_magics": True, **dict.fromkeys(_OTHERS, False)},
        }
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            server_app["allow_root"] = True
        (conf / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": server_app}))
        env = child_env(self.base, {"JUPYTER_TOKEN": self.token, **self.env})
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.base)
        _wait(self.proc, lambda: self.get("mesh/api/version").status == 200, "jupyter server", 60, self.log)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)

    def __enter__(self) -> JupyterServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def get(self, path: str, *, auth: bool = True, headers: Mapping[str, str] | None = None) -> Response:
        return self.call("GET", path, auth=auth, headers=headers)

    def call(
        self,
        method: str,
        path: str,
        *,
        auth: bool = True,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Response:
        """``method /path`` (relative to the base URL, sent as is)."""
        h = {**(self.auth() if auth else {}), **(headers or {})}
        return request(self.port, method, "/" + path.lstrip("/"), h, body)


_OTHERS = ("jupyter_server_terminals", "jupyterlab", "jupyterlab_jupytext", "jupyter_lsp",
           "notebook", "notebook_shim", "nbclassic", "jupyter_server_fileid", "jupyter_server_ydoc")  # fmt: skip


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


@contextlib.contextmanager
def scheduler(
    base: Path, *, tls: Mapping[str, str] | None = None, dashboard: bool = True
) -> Iterator[tuple[subprocess.Popen[bytes], str, str | None]]:
    """A real ``dask scheduler`` on 127.0.0.1: ``(process, address, dashboard origin)``."""
    port = free_port()
    dash = free_port() if dashboard else None
    cmd = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--dashboard-address", f"127.0.0.1:{dash}"] if dash else ["--no-dashboard"]
    if tls:
        cmd += [
            "--protocol",
            "tls",
            "--tls-ca-file",
            tls["ca"],
            "--tls-cert",
            tls["cert"],
            "--tls-key",
            tls["key"],
        ]
    log = base / f"scheduler-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=child_env(base))
    try:

        def ready() -> bool:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
            if dash:
                with socket.create_connection(("127.0.0.1", dash), timeout=1):
                    pass
            return True

        _wait(proc, ready, "dask scheduler", 60, log)
        scheme = "tls" if tls else "tcp"
        yield proc, f"{scheme}://127.0.0.1:{port}", f"http://127.0.0.1:{dash}" if dash else None
    finally:
        _stop(proc)


def register(base: Path, entry_id: str, scheduler_address: str, dashboard_link: str | None, pid: int) -> None:
    """Write a registry entry into the case's registry, as a kernel would."""
    import dask

    from mesh_magics.store import registry

    with dask.config.set({"mesh.registry.path": str(base / "registry")}):
        registry.register(
            {
                "id": entry_id,
                "scheduler_address": scheduler_address,
                "dashboard_link": dashboard_link,
                "kind": "connected",
                "pid": pid,
            }
        )


class Hostile:
    """An HTTP server on 127.0.0.1 standing in for a dashboard that misbehaves.

    It records every request line it gets (:attr:`seen`) and answers by path:
    ``/away`` redirects to another host, ``/away-relative`` to ``//other-host/x``,
    ``/inside`` to ``/status`` on itself, ``/self-absolute`` to its own absolute URL;
    anything else is 200 with ``{"path": ...}``.
    """

    def __init__(self) -> None:
        self.seen: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's spelling
                outer.seen.append(self.requestline)
                path = self.path.split("?", 1)[0]
                where = {
                    "/away": "http://203.0.113.7:8787/status",
                    "/away-relative": "//203.0.113.7:8787/status",
                    "/inside": "/status",
                    "/self-absolute": f"http://127.0.0.1:{outer.port}/status",
                }.get(path)
                if where is not None:
                    self.send_response(302)
                    self.send_header("Location", where)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps({"path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name="hostile-dashboard")

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Hostile:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def make_tls(base: Path) -> dict[str, str]:
    """A CA and a certificate for 127.0.0.1 signed by it (openssl): ``{ca, cert, key}`` paths."""
    if shutil.which("openssl") is None:
        raise Skip("needs the openssl command")
    d = base / "tls"
    d.mkdir(exist_ok=True)
    ca_key, ca, key, csr, cert = (str(d / n) for n in ("ca.key", "ca.pem", "key.pem", "c.csr", "cert.pem"))

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
            "-days", "2", "-subj", "/CN=mesh-suite-ca")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
            "-days", "2", "-extfile", str(d / "san.cnf"))  # fmt: skip
    for p in (ca_key, key):
        os.chmod(p, 0o600)
    return {"ca": ca, "cert": cert, "key": key}
