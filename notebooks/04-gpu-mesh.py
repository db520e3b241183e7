# ---
# jupyter:
#   jupytext:
#     comment_magics: false
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The whale suite on GPUs
#
# On a mesh of NVIDIA GPUs, `%mesh up` starts a dask-cuda `LocalCUDACluster` (one worker per GPU)
# and the whale suite runs on dask-cuDF: the same functions, the same answers, cuDF frames in and
# out. This notebook checks for a GPU and cuDF first; **without them it says so and runs the same
# analysis on pandas**, so it runs anywhere.

# %% demo_title="Backend" tags=["key-result"]
import importlib.util
from mesh_magics.core.cluster import gpu_probe

probe = gpu_probe()
HAS_CUDF = importlib.util.find_spec("cudf") is not None and importlib.util.find_spec("dask_cudf") is not None
BACKEND = "cudf" if probe.usable and HAS_CUDF else "pandas"
if BACKEND == "cudf":
    print(f"GPU mesh: {probe.reason}; the suite runs on cuDF")
else:
    why = probe.reason if not probe.usable else "cuDF is not installed (pip install 'mesh-magics[gpu]')"
    print(f"No GPU backend here ({why}).")
    print("Running on pandas instead: the answers are the same, only slower.")

# %%
%load_ext mesh_magics

# %% tags=["nbval-ignore-output"]
%mesh up

# %% tags=["nbval-ignore-output"]
import mesh_magics
mesh = mesh_magics.current()
print(mesh.kind, "with", len(mesh.workers()), "worker(s)")

# %% [markdown]
# ## The same ledger on the chosen backend
#
# `synthetic(..., backend=BACKEND)` builds each partition as a pandas or a cuDF frame on the worker
# that generates it. The ledger is the same either way: it is a function of its arguments only.

# %%
from mesh_magics import runes

ARGS = dict(n_rows=500_000, n_runes=30, n_addresses=20_000, seed=11, npartitions=4)
transfers, rune_table = runes.synthetic(**ARGS, backend=BACKEND)
transfers, rune_table = transfers.persist(), rune_table.persist()
type(transfers._meta).__module__.split(".")[0], len(transfers)

# %% tags=["nbval-ignore-output"]
import time

def suite(transfers, rune_table):
    return {
        "whale_transfers": runes.whale_transfers(transfers, rune_table, min_share=0.001),
        "top_holders": runes.top_holders(transfers, n=10),
        "concentration": runes.concentration(transfers, top=10),
        "whale_netflow": runes.whale_netflow(transfers, freq="1D", top=10),
        "whale_flows": runes.whale_flows(transfers, rune_table, min_share=0.001, top=100),
        "daily_activity": runes.daily_activity(transfers),
    }

t0 = time.perf_counter()
answers = suite(transfers, rune_table)
elapsed = time.perf_counter() - t0
print(f"six queries on {BACKEND}: {elapsed:.1f} s")

# %% [markdown]
# ## Same answers
#
# The reference is the same suite on pandas over the same ledger. On a GPU mesh this compares cuDF
# against pandas; on CPU both sides are pandas, which still checks that the suite is deterministic.
# Integer columns must be equal; ratios agree to 1e-9.

# %% demo_title="Same answers as pandas" tags=["key-result"]
import pandas as pd

def to_pandas(frame):
    return frame.to_pandas() if hasattr(frame, "to_pandas") else frame

ref_transfers, ref_runes = runes.synthetic(**ARGS, backend="pandas")
reference = suite(ref_transfers.persist(), ref_runes.persist())
rows = []
for query, frame in answers.items():
    got, want = to_pandas(frame), reference[query]
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True),
                                  check_dtype=False, rtol=1e-9)
    rows.append({"query": query, "rows": len(got), "same as pandas": True})
pd.DataFrame(rows).set_index("query")

# %%
to_pandas(answers["concentration"]).sort_values("hhi", ascending=False).head(5).round(4)

# %% [markdown]
# On a GPU machine, install the extra (`pip install "mesh-magics[gpu]"`) and rerun: the first cell
# then reports the GPUs and every query above runs on cuDF.

# %%
%mesh down
