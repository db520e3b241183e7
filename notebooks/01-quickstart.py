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
# # mesh-magics quickstart
#
# `%%mesh` runs a notebook cell on the workers of a Dask cluster — the *mesh* — and streams
# what the cell prints back into the cell while it runs. This notebook walks through the
# everyday loop: start a mesh, run cells on it, move variables in and out, fan out to every
# worker, run in the background, and look back at what ran.
#
# `%load_ext mesh_magics` registers the magics. `%mesh up` starts the embedded mesh: a dask-cuda
# `LocalCUDACluster` when NVIDIA GPUs are visible, otherwise a `LocalCluster` of worker
# processes on this machine. The mesh's status (scheduler address, workers, the Dask dashboard
# link) is shown as a table.

# %%
%load_ext mesh_magics

# %% tags=["nbval-ignore-output"]
%mesh up --workers 2 --threads 1

# %% [markdown]
# ## A cell on the mesh
#
# `%%mesh` sends the cell to a worker. What it prints streams into the cell as it happens —
# one display per worker and stream, updated in place, so `\r` progress bars work too. A run
# that takes longer than a second also gets a live dashboard under its output (progress, the
# node map, logs and, at the end, a summary).
#
# `--name` names the run (history, Dask task keys) and `-o first` keeps a handle on it.

# %%
%%mesh --name first-steps -o first
import time
for i in range(3):
    print(f"step {i}: {i} squared is {i * i}", flush=True)
    time.sleep(1)
x = 42

# %% [markdown]
# The handle is a `MeshRun`: here its status and the whole stdout; it also knows which worker ran it
# (`targets`), how long it took (`duration`) and the cell's value (`result()`).

# %%
first.status, first.stdout

# %% [markdown]
# ## The remote namespace
#
# The worker keeps a namespace for this notebook (the *session*), so a later cell sees `x`. The
# last expression of a cell is shown like IPython's `Out`.

# %%
%%mesh
x * 2

# %% [markdown]
# ## Moving variables: push and pull
#
# Notebook variables a cell reads are **pushed** automatically when the worker does not have
# them yet (modules travel by reference). `--pull` brings names back into the notebook.

# %%
threshold = 10

# %%
%%mesh --pull evens
evens = [i for i in range(threshold) if i % 2 == 0]

# %%
evens

# %% [markdown]
# The worker already has `threshold` now, so changing it in the notebook is not enough: the
# worker would keep using its own copy. `--push threshold` sends it again.

# %%
threshold = 5

# %%
%%mesh --push threshold --pull evens
evens = [i for i in range(threshold) if i % 2 == 0]

# %%
evens

# %% [markdown]
# ## Every worker at once
#
# `--on all` runs the cell once per worker, each in its own namespace. The value of the cell is a
# dict worker → value, and so is every pulled name.

# %%
%%mesh --on all --pull square
from distributed import get_worker
me = int(get_worker().name)
square = me * me
f"worker {me}"

# %%
square

# %% [markdown]
# Inside a cell, `get_client()` reaches the whole mesh: a cell can launch Dask work of its own.

# %%
%%mesh
import dask.array as da
da.arange(1_000_000, chunks=100_000).sum().compute()

# %% [markdown]
# ## One cell, many items
#
# `%%mesh map ITEMS` runs the cell once per item, across all the workers: one Dask task per item,
# the item bound as `item` (`--as` picks the name), the cell's last expression the item's value.
# One progress line covers the batch; the values come back in item order (`--results` binds them
# too), and the batch is one row of the history, its items' outcomes queryable.

# %%
%%mesh map range(8) --as n --name squares --results squares -o batch
n * n

# %%
squares == [n * n for n in range(8)], batch.counts()["finished"]

# %% [markdown]
# ## Errors come back with the cell's own line numbers
#
# The traceback is the remote one, with the lines of *this* cell and the worker's name. The kernel
# and the mesh carry on.

# %% tags=["raises-exception"]
%%mesh
values = [1, 2, 0]
ratios = [10 / v for v in values]

# %% [markdown]
# ## Not blocking
#
# `--noblock` returns the `MeshRun` handle at once (its repr shows the state at that moment, so
# it changes from run to run); the run's output keeps updating in its own cell while you run
# others.

# %% tags=["nbval-ignore-output"]
%%mesh --noblock -o job --name background
import time
for i in range(3):
    print("background", i, flush=True)
    time.sleep(0.5)
sum(range(10))

# %%
print('the notebook is free while', job.name, 'runs')

# %%
job.result(timeout=30), job.status

# %%
print(job.stdout)

# %% [markdown]
# ## History and export
#
# Every run is recorded in a SQLite history shared by your kernels. `%mesh history` lists the
# latest runs (ids and times change from run to run), `--status` and `--grep` filter, and
# `--export` writes them to `.csv`, `.parquet` or `.json`.

# %% tags=["nbval-ignore-output"]
%mesh history -n 5

# %% tags=["nbval-ignore-output"]
%mesh history --status failed -n 1

# %%
import tempfile
from pathlib import Path
import pandas as pd
import mesh_magics

export = Path(tempfile.mkdtemp()) / "runs.csv"
%mesh history -n 8 --export $export
runs = pd.read_csv(export)
runs[runs["mesh"] == mesh_magics.current().address][["name", "status", "error"]]

# %% [markdown]
# ## Templates and the audit trail
#
# `%mesh template` lists documented, parameterised runs kept as plain files (the built-in ones,
# your team's directories in `mesh.templates.path`, and those plugins add). Without `--run` the
# cell is inserted below for you to read and edit; with `--run` it runs at once. Here `decode`
# decodes a batch of scripts across the workers.

# %%
%mesh template

# %%
%mesh template decode scripts='["6a5d050001010200","6a5d0114"]' --run

# %% [markdown]
# Every run also leaves an append-only audit record — who, where, the code's hash, targets,
# outcome — that `%mesh audit` queries and `--export` writes out (users, hosts and times vary).

# %% tags=["nbval-ignore-output"]
%mesh audit -n 3

# %% [markdown]
# `%mesh down` leaves the mesh, and stops it because `%mesh up` started it.

# %%
%mesh down
