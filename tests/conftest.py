"""Shared fixtures: real Dask scheduler and worker processes, never mocks."""

from __future__ import annotations

import os

import pytest

# Keep test meshes small and quiet on the 2-core CI machine.
os.environ.setdefault("DASK_DISTRIBUTED__WORKER__DAEMON", "False")
os.environ.setdefault("DASK_DISTRIBUTED__LOGGING__DISTRIBUTED", "error")


@pytest.fixture(scope="session")
def dask_cluster():
    """A real LocalCluster: 2 worker processes, 1 thread each, for the session."""
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        memory_limit="2GiB",
    )
    yield cluster
    cluster.close()


@pytest.fixture()
def dask_client(dask_cluster):
    """A Client on the session's cluster; the default client while the test runs."""
    from distributed import Client

    with Client(dask_cluster, set_as_default=True) as client:
        yield client
