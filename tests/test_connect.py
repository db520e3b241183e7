"""`connect`: a Client, a Cluster object, a TLS scheduler, and the errors on the way."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mesh_magics
from mesh_magics.errors import MeshConnectionError, MeshUsageError


@pytest.fixture(autouse=True)
def _isolated(tmp_path):
    import dask

    with dask.config.set(
        {
            "mesh.history.path": str(tmp_path / "h.sqlite3"),
            "mesh.registry.path": str(tmp_path / "reg"),
            "mesh.audit.path": str(tmp_path / "audit.sqlite3"),
        }
    ):
        yield


def test_connect_to_a_cluster_object_and_a_client(dask_cluster):
    m = mesh_magics.connect(dask_cluster)
    try:
        assert m.kind == "connected" and m.address == dask_cluster.scheduler_address
        assert m.run("6 * 7").result() == 42
    finally:
        m.down()
    assert dask_cluster.status.name == "running"  # we did not own it: still up
    from distributed import Client

    with Client(dask_cluster, set_as_default=False) as client:
        m = mesh_magics.connect(client)
        try:
            assert m.run("1 + 1").result() == 2
        finally:
            m.down()
        assert client.status == "running"  # the user's Client is left open


def test_connect_errors_are_clear(tmp_path):
    with pytest.raises(MeshUsageError, match="not a tls:// address"):
        mesh_magics.connect("tcp://127.0.0.1:1", tls_ca="x", tls_cert="y", tls_key="z")
    with pytest.raises(MeshUsageError, match="tls_ca"):
        mesh_magics.connect(
            "tls://127.0.0.1:1", tls_ca=str(tmp_path / "missing.pem"), tls_cert="y", tls_key="z"
        )
    with pytest.raises(MeshConnectionError, match="cannot reach the scheduler"):
        mesh_magics.connect("tcp://127.0.0.1:9", timeout=1)
    with pytest.raises(MeshUsageError, match="scheduler address"):
        mesh_magics.connect(42)


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _scheduler_address(path: Path, sched: subprocess.Popen, deadline: float) -> str:
    """The address a scheduler started with ``--scheduler-file path`` wrote there (it picks
    its own port: a port found free and handed over could be taken before it bound it)."""
    while time.time() < deadline:
        if sched.poll() is not None:
            raise AssertionError(f"the TLS scheduler exited with {sched.returncode}")
        try:
            return json.loads(path.read_text())["address"]
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            time.sleep(0.2)
    raise AssertionError("the TLS scheduler wrote no scheduler file")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_connect_over_tls(tmp_path):
    ca_key, ca, key, csr, cert = (str(tmp_path / n) for n in ("ca.key", "ca.pem", "k.pem", "c.csr", "c.pem"))
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        ca_key,
        "-out",
        ca,
        "-days",
        "2",
        "-subj",
        "/CN=mesh-test-ca",
    )
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    ext = tmp_path / "san.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        ca,
        "-CAkey",
        ca_key,
        "-CAcreateserial",
        "-out",
        cert,
        "-days",
        "2",
        "-extfile",
        str(ext),
    )
    tls = ["--tls-ca-file", ca, "--tls-cert", cert, "--tls-key", key]
    scheduler_file = tmp_path / "scheduler.json"
    sched = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--protocol",
            "tls",
            "--port",
            "0",
            "--scheduler-file",
            str(scheduler_file),
            "--dashboard-address",
            ":0",
            *tls,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_worker",
            "--scheduler-file",
            str(scheduler_file),
            "--nthreads",
            "1",
            "--no-nanny",
            *tls,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    audit = tmp_path / "audit.sqlite3"  # mesh.audit.path (the _isolated fixture)
    try:
        deadline = time.time() + 60
        address = _scheduler_address(scheduler_file, sched, deadline)
        m = None
        while time.time() < deadline:
            try:
                m = mesh_magics.connect(address, tls_ca=ca, tls_cert=cert, tls_key=key, timeout=3)
                break
            except MeshConnectionError:
                time.sleep(0.5)
        assert m is not None, "TLS scheduler never answered"
        try:
            while not m.workers() and time.time() < deadline:
                time.sleep(0.2)
            run = m.run("print('over tls')\n'ok'")
            assert run.result() == "ok" and run.stdout == "over tls\n"
            assert m.address.startswith("tls://")
        finally:
            m.down()
        # the audit trail knows the TLS mesh and its run, never the key or the certificates
        from mesh_magics.store.audit import AuditLog

        with AuditLog(audit) as a:
            assert [r["mesh"] for r in a.runs()] == [address]
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("audit.sqlite3*"))
        for pem in (key, cert, ca):
            body = "".join(Path(pem).read_text().splitlines()[1:-1])[:64]
            assert body.encode() not in raw and b"PRIVATE KEY" not in raw
        # without the client certificate the scheduler refuses us
        with pytest.raises(MeshUsageError, match="tls_ca, tls_cert and tls_key"):
            mesh_magics.connect(address, timeout=2)
    finally:
        worker.kill()
        sched.kill()
