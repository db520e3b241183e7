"""Security cases on files: export targets, modes, secrets in logs and history, TLS end to end.

Registered by importing :mod:`.security_cases` (this module has no cases of its own).
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import Context, Outcome, Skip, case
from ._servers import JupyterServer, child_env, make_tls, scheduler

__all__: list[str] = []


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def _history(ctx: Context, runs: int = 3) -> Any:
    from mesh_magics.store import registry
    from mesh_magics.store.history import History

    with ctx.config():
        registry.register(
            {"id": "k1", "scheduler_address": "tcp://127.0.0.1:1", "kind": "connected", "pid": os.getpid()}
        )
        h = History()
        for i in range(runs):
            h.add(f"r{i}", mesh="tcp://127.0.0.1:1", source=f"print({i})", status="finished")
    return h


def _snapshot(ctx: Context) -> dict[str, bytes]:
    """Every regular file's bytes, but the -shm index, which SQLite rewrites on reads."""
    return {
        str(p.relative_to(ctx.dir)): p.read_bytes()
        for p in sorted(ctx.dir.rglob("*"))
        if p.is_file() and not p.is_symlink() and not p.name.endswith("-shm")
    }


# ------------------------------------------------------------------ export targets


#: target name -> (make the target in ctx.dir, what the refusal names)
def _targets() -> dict[str, Callable[[Context], Path]]:
    def db(ctx: Context) -> Path:
        link = ctx.dir / "to-db.json"
        link.symlink_to(ctx.dir / "history.sqlite3")
        return link

    def sidecar(name: str) -> Callable[[Context], Path]:
        def make(ctx: Context) -> Path:
            link = ctx.dir / f"to{name}.parquet"
            link.symlink_to(ctx.dir / f"history.sqlite3{name}")
            return link

        return make

    def hard(ctx: Context) -> Path:
        dest = ctx.dir / "hard.csv"
        os.link(ctx.dir / "history.sqlite3", dest)
        return dest

    return {
        "database-symlink": db,
        "database-hardlink": hard,
        "wal": sidecar("-wal"),
        "shm": sidecar("-shm"),
        "journal": sidecar("-journal"),
        "registry-entry": lambda ctx: ctx.dir / "registry" / "mesh-k1.json",
        "registry-new-file": lambda ctx: ctx.dir / "registry" / "new.json",
        "directory": lambda ctx: _mkdir(ctx.dir / "folder.json"),
    }


def _mkdir(p: Path) -> Path:
    p.mkdir()
    return p


def _export_case(name: str, make: Callable[[Context], Path]) -> None:
    def fn(ctx: Context) -> Outcome:
        from mesh_magics.errors import HistoryError

        h = _history(ctx)
        dest = make(ctx)
        before = _snapshot(ctx)
        with ctx.config():
            try:
                h.export(dest, overwrite=True)
            except HistoryError as e:
                reason = str(e)
            else:
                raise AssertionError(f"export over {name} ({dest}) was written")
        after = _snapshot(ctx)
        assert before == after, f"files changed: {sorted(k for k in after if before.get(k) != after[k])}"
        assert h.count() == 3
        h.close()
        return Outcome(
            f"refused even with overwrite=True, no file changed: {reason.split(': ', 1)[-1][:100]}"
        )

    fn.__name__ = f"export_refuses_{name.replace('-', '_')}"
    fn.__doc__ = f"History.export never writes over the {name.replace('-', ' ')}"
    case("security", quick=True)(fn)


for _name, _make in _targets().items():
    _export_case(_name, _make)


@case("security", quick=True)
def export_keeps_an_existing_file(ctx: Context) -> Outcome:
    """an existing file is kept unless overwrite=True (--force); then it is replaced whole"""
    from mesh_magics.errors import HistoryError

    h = _history(ctx)
    dest = ctx.dir / "notes.json"
    dest.write_text("the user's notes")
    with ctx.config():
        try:
            h.export(dest)
            raise AssertionError("an existing file was overwritten without overwrite=True")
        except HistoryError as e:
            assert "--force" in str(e), e
        assert dest.read_text() == "the user's notes"
        assert h.export(dest, overwrite=True) == 3
    assert len(json.loads(dest.read_text())) == 3 and _mode(dest) == 0o600
    h.close()
    return Outcome("kept without overwrite (the error names --force); replaced with it, 3 runs, mode 0600")


def _modes(ctx: Context) -> dict[str, str]:
    return {str(p.relative_to(ctx.dir)): oct(_mode(p)) for p in sorted(ctx.dir.rglob("*"))}


@case("security", quick=True)
def modes_after_writes_and_exports(ctx: Context) -> Outcome:
    """history, WAL/SHM, registry and exports are 0600, their directories 0700, after many writes"""
    old = os.umask(0o022)
    try:
        h = _history(ctx, runs=50)
        with ctx.config():
            for i in range(50):
                h.update(f"r{i}", stdout_tail="x" * 1000, summary={"i": i})
            for suffix in (".json", ".csv", ".parquet"):
                h.export(ctx.dir / f"out{suffix}")
        modes = _modes(ctx)  # while open: the WAL and SHM files exist
        h.close()
    finally:
        os.umask(old)
    assert {"history.sqlite3-wal", "history.sqlite3-shm"} <= set(modes), sorted(modes)
    loose = {k: v for k, v in modes.items() if v != ("0o700" if (ctx.dir / k).is_dir() else "0o600")}
    assert not loose, f"not private: {loose}"
    return Outcome(f"{len(modes)} files and directories under umask 022: all 0600 / 0700", {"modes": modes})


@case("security", quick=True)
def modes_after_migration(ctx: Context) -> Outcome:
    """an old, world-readable database (and its WAL/SHM) is 0600 once migrated"""
    from mesh_magics.store.history import History

    db = ctx.dir / "old.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE notes (x)")
    conn.execute("INSERT INTO notes VALUES (1)")
    conn.commit()
    for p in ctx.dir.iterdir():
        p.chmod(0o644)
    with History(db) as h:
        h.add("r", mesh="tcp://127.0.0.1:1", source="x")
        version = h._read("PRAGMA user_version", [])[0]["user_version"]
        modes = {p.name: oct(_mode(p)) for p in ctx.dir.iterdir()}
    conn.close()
    assert len(modes) == 3 and set(modes.values()) == {"0o600"}, modes
    return Outcome(f"migrated to schema {version}; {sorted(modes)}: all 0600 (were 0644)")


@case("security", quick=True)
def modes_of_registry_rewrites(ctx: Context) -> Outcome:
    """registry files stay 0600 through register, re-register and prune"""
    from mesh_magics.store import registry

    old = os.umask(0o000)  # the loosest umask: nothing may depend on it
    try:
        with ctx.config():
            for i in range(20):
                registry.register(
                    {
                        "id": f"k{i % 4}",
                        "scheduler_address": f"tcp://127.0.0.1:{i + 1}",
                        "kind": "connected",
                        "pid": os.getpid(),
                    }  # fmt: skip
                )
            registry.prune()
    finally:
        os.umask(old)
    modes = _modes(ctx)
    assert modes == {"registry": "0o700", **{f"registry/mesh-k{i}.json": "0o600" for i in range(4)}}, modes
    return Outcome("20 registrations of 4 entries under umask 000: files 0600, directory 0700")


# ------------------------------------------------------------------ secrets and TLS


def _tls_cluster(ctx: Context, tls: dict[str, str]) -> Any:
    """A TLS scheduler (with dashboard) and one TLS worker: a context giving the address."""
    import contextlib

    @contextlib.contextmanager
    def run() -> Any:
        with scheduler(ctx.dir, tls=tls) as (proc, address, dash):
            cmd = [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--no-nanny",
                   "--tls-ca-file", tls["ca"], "--tls-cert", tls["cert"], "--tls-key", tls["key"]]  # fmt: skip
            with open(ctx.dir / "worker.log", "wb") as log:
                worker = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=child_env(ctx.dir))
            try:
                yield address, dash
            finally:
                worker.kill()
                worker.wait(10)

    return run()


@case("security")
def tls_scheduler_end_to_end(ctx: Context) -> Outcome:
    """a TLS scheduler with generated certificates: a cell runs over tls://; no certificate, refused"""
    import mesh_magics
    from mesh_magics.errors import MeshConnectionError, MeshUsageError

    tls = make_tls(ctx.dir)
    with _tls_cluster(ctx, tls) as (address, _), ctx.config():
        t0, m = time.monotonic(), None
        while m is None and time.monotonic() - t0 < 60:
            try:
                m = mesh_magics.connect(
                    address, tls_ca=tls["ca"], tls_cert=tls["cert"], tls_key=tls["key"], timeout=3
                )
            except MeshConnectionError:
                time.sleep(0.5)
        assert m is not None, "the TLS scheduler never answered"
        try:
            while not m.workers() and time.monotonic() - t0 < 60:
                time.sleep(0.2)
            run = m.run("print('over tls')\n'ok'")
            assert run.result() == "ok" and run.stdout == "over tls\n", (run.result(), run.stdout)
            assert m.address.startswith("tls://")
        finally:
            m.down()
        refused = None
        try:
            mesh_magics.connect(address, timeout=2)
        except MeshUsageError as e:
            refused = type(e).__name__
        assert refused, "a TLS scheduler was joined without a certificate"
    return Outcome(f"joined {address} with a generated CA in {time.monotonic() - t0:.1f} s, cell ran over TLS; "
                   f"without certificates: {refused}")  # fmt: skip


def _needles(tls: dict[str, str], token: str) -> dict[str, str]:
    """What must never appear: the token, and pieces of each private key's PEM body."""
    out = {"jupyter token": token}
    for name in ("key", "ca_key"):
        path = Path(tls["key"]) if name == "key" else Path(tls["ca"]).with_name("ca.key")
        body = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("-----")]
        out[f"{name} PEM (line 5)"] = body[5]
        out[f"{name} PEM (line 10)"] = body[10]
    return out


def _jupyter_banner(line: str) -> bool:
    """Jupyter's own startup banner prints the server URL with its token: not ours."""
    return bool(line.strip().startswith("http://") or "] http://" in line or "] Jupyter Server" in line)


@case("security")
def secrets_never_in_logs_history_or_registry(ctx: Context) -> Outcome:
    """with a token and TLS: no token or private key in our logs, the history, the registry"""
    try:
        from jupyter_client.manager import start_new_kernel
    except ImportError:
        raise Skip("jupyter_client is not installed") from None
    tls = make_tls(ctx.dir)
    canary = "canary-" + os.urandom(6).hex()
    dask_tls = {"DASK_DISTRIBUTED__COMM__TLS__CA_FILE": tls["ca"],
                "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": tls["cert"],
                "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": tls["key"]}  # fmt: skip
    with (
        _tls_cluster(ctx, tls) as (address, dash),
        JupyterServer(ctx.dir, env=dask_tls, args=["--debug"]) as js,
    ):
        klog = open(ctx.dir / "kernel.log", "wb")
        km, kc = start_new_kernel(kernel_name="python3", env=child_env(ctx.dir), stdout=klog, stderr=klog)
        try:
            cells = [
                "%load_ext mesh_magics",
                f"%mesh connect {address} --tls-ca {tls['ca']} --tls-cert {tls['cert']} --tls-key /no/such/key.pem",
                f"%mesh connect {address} --tls-ca {tls['ca']} --tls-cert {tls['cert']} --tls-key {tls['key']}",
                f"%%mesh\nprint('hello over tls', {canary!r})",
                "%%mesh\n1/0",
                "%%mesh --timeout 1\nimport time; time.sleep(5)",
                "%mesh status",
                "%mesh history",
            ]
            for code in cells:
                kc.execute_interactive(code, timeout=90, output_hook=lambda m: None)
            meshes = js.get("mesh/api/meshes").json()["meshes"]
            mesh_id = meshes[0]["id"]
            for path in ["mesh/api/meshes", f"mesh/api/meshes/{mesh_id}/nodes", "mesh/api/runs",
                         f"mesh/api/meshes/{mesh_id}/dashboard/status", "mesh/api/meshes/x/dashboard/a/../b"]:  # fmt: skip
                js.get(f"{path}?token={js.token}", auth=False)
            runs = js.get("mesh/api/runs").json()["runs"]
            for r in runs:
                js.get(f"mesh/api/runs/{r['id']}?token={js.token}", auth=False)
                js.call("POST", f"mesh/api/runs/{r['id']}/cancel", body=b"{}")
            registered = {p: p.read_bytes() for p in (ctx.dir / "registry").glob("mesh-*.json")}
            kc.execute_interactive("%mesh down", timeout=60, output_hook=lambda m: None)
            runtime = "".join(
                p.read_text(errors="replace") for p in (ctx.dir / "jupyter-runtime").glob("jpserver-*")
            )
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
            klog.close()
    state = meshes[0]["state"]
    assert state == "connected", f"the server could not reach the TLS mesh: {meshes[0]}"
    assert len(runs) >= 3, runs
    needles = _needles(tls, js.token)
    # controls: the grep finds each needle where it is meant to be
    assert all(n in Path(tls["key"]).read_text() for w, n in needles.items() if w.startswith("key ")), (
        "needles"
    )
    assert js.token in runtime, "the control grep does not find the token in Jupyter's own server file"
    history = b"".join(p.read_bytes() for p in ctx.dir.glob("history.sqlite3*"))
    assert canary.encode() in history, "the control grep does not find a printed canary in the history"
    # not grepped: the keys themselves (tls/), and Jupyter's own runtime files (its server
    # info and open page carry the token by design, kernel connection files their HMAC key)
    files = {
        p: p.read_bytes()
        for p in ctx.dir.rglob("*")
        if p.is_file() and not {"tls", "jupyter-runtime"} & set(p.relative_to(ctx.dir).parts)
    }
    assert registered, "no registry file was written while the mesh was up"
    files.update(registered)  # removed at %mesh down: grepped as they were while up
    found: list[str] = []
    banner = 0
    for path, data in files.items():
        text = data.decode("utf-8", "replace")
        for what, needle in needles.items():
            if needle not in text:
                continue
            lines = [ln for ln in text.splitlines() if needle in ln]
            if (
                path.name == "jupyter-server.log"
                and what == "jupyter token"
                and all(map(_jupyter_banner, lines))
            ):
                banner += len(lines)
                continue
            found.append(f"{what} in {path.relative_to(ctx.dir)}: {lines[:2]}")
    assert not found, "\n".join(found)
    names = sorted(str(p.relative_to(ctx.dir)) for p in files)
    return Outcome(
        f"{len(files)} files grepped (server log at debug, kernel log, history + WAL, registry, scheduler and "
        f"worker logs) for the token and 2 key PEMs: 0 hits of ours ({banner} lines of Jupyter's own banner); "
        f"{len(runs)} runs recorded over TLS",
        {"files": names},
    )
