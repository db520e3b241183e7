"""The whale suite on the cuDF backend equals the pandas answers (needs an NVIDIA GPU)."""

from __future__ import annotations

import dask
import pandas as pd
import pytest

pytestmark = pytest.mark.gpu


def test_cudf_backend_matches_pandas():
    cudf = pytest.importorskip("cudf")
    pytest.importorskip("dask_cudf")
    from mesh_magics.runes import (
        concentration,
        daily_activity,
        synthetic,
        top_holders,
        whale_flows,
        whale_netflow,
        whale_transfers,
    )

    args = dict(n_rows=20_000, n_runes=10, n_addresses=500, seed=3, npartitions=4)
    cpu_t, cpu_r = synthetic(**args, backend="pandas")
    queries = {
        "whale_transfers": lambda t, r: whale_transfers(t, r, min_share=0.01),
        "top_holders": lambda t, r: top_holders(t, n=5),
        "concentration": lambda t, r: concentration(t, top=5),
        "whale_netflow": lambda t, r: whale_netflow(t, freq="6h", top=5),
        "whale_flows": lambda t, r: whale_flows(t, r, min_share=0.01, top=50),
        "daily_activity": lambda t, r: daily_activity(t),
    }
    with dask.config.set({"dataframe.backend": "cudf", "dataframe.shuffle.method": "tasks"}):
        gpu_t, gpu_r = synthetic(**args)
        assert isinstance(gpu_t._meta, cudf.DataFrame)
        in_memory = gpu_t.compute()
        for name, q in queries.items():
            want = q(cpu_t, cpu_r)
            for got in (q(gpu_t, gpu_r), q(in_memory, gpu_r)):
                assert isinstance(got, cudf.DataFrame), name
                pd.testing.assert_frame_equal(got.to_pandas(), want, check_dtype=False, rtol=1e-9, obj=name)
