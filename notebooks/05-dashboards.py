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
# # Dashboards, events and history
#
# Three ways to keep an eye on a mesh: the **live dashboard** (in every long cell, or standalone with
# `%mesh dashboard`), **events** you can hook Python callbacks to, and the **history** of every run.

# %%
%load_ext mesh_magics

# %% tags=["nbval-ignore-output"]
%mesh up --workers 2 --threads 1

# %% [markdown]
# ## The standalone dashboard
#
# `%mesh dashboard` shows the mesh as a whole, not tied to one run: the **node map** (one tile per
# worker: CPU, memory, tasks, GPU when there is one), the runs in flight with their progress, and
# their logs. It keeps updating while you run other cells, and stops when you close it or the mesh
# goes down. (Its text form, which you see where widgets cannot render, is a snapshot.)

# %% tags=["nbval-ignore-output"]
%mesh dashboard

# %% [markdown]
# Every `%%mesh` run that lasts more than a second gets the same view for itself under its output:
# its task progress, the node map with the workers it uses highlighted, its logs, and a summary
# (duration, tasks, bytes transferred and spilled, peak memory) when it ends.

# %%
%%mesh --name busy-work
import time
import dask.array as da
from distributed import get_client

print("building a 2,000 × 2,000 random matrix in 16 blocks", flush=True)
x = da.random.RandomState(0).random((2_000, 2_000), chunks=(500, 500))
total = (x @ x.T).sum().compute()
time.sleep(1)
print(f"sum of x·xᵀ: {total / 1e9:.2f} billion", flush=True)

# %% [markdown]
# The node map is also available as data. `mesh.workers()` has one row per worker (address, host,
# threads, memory, tasks, GPU); `mesh.status()` is what `%mesh status` shows.

# %%
import mesh_magics

mesh = mesh_magics.current()
[(w.name, w.threads, w.gpu_name) for w in mesh.workers()]

# %% tags=["nbval-ignore-output"]
%mesh status

# %% [markdown]
# ## Events and callbacks
#
# `mesh.on(event, callback)` calls `callback(payload)` for `run_started`, `run_finished`,
# `run_failed`, `run_cancelled`, `worker_joined`, `worker_left`, `connected`, `disconnected` and
# `reconnecting`. Callbacks run on whichever thread noticed the event (the Dask event loop for
# worker events), so keep them quick: append to a list, post to a queue, ping a chat.

# %%
seen = []

def record(event):
    def callback(payload):
        seen.append((event, payload.get("name") or "worker"))
    return callback

subscriptions = [mesh.on(event, record(event))
                 for event in ("run_started", "run_finished", "run_failed", "worker_joined", "worker_left")]

# %%
%%mesh --name tally
sum(range(100))

# %% tags=["raises-exception"]
%%mesh --name oops
{}["missing"]

# %% [markdown]
# Workers joining and leaving are events too. Scaling the embedded `LocalCluster` to three workers
# and back shows both (the callback runs on Dask's event loop, so wait for it).

# %%
import time

def wait_for(predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("event did not arrive")
        time.sleep(0.1)

mesh.cluster.scale(3)
wait_for(lambda: ("worker_joined", "worker") in seen)
mesh.cluster.scale(2)
wait_for(lambda: ("worker_left", "worker") in seen)
len(mesh.workers())

# %% demo_title="Events seen by the callbacks" tags=["key-result"]
seen

# %%
for s in subscriptions:
    s.cancel()

# %% [markdown]
# ## Searching the history
#
# Every run of every kernel lands in the history (SQLite, shared safely between kernels). From
# Python, `mesh.history` filters by status, by a case-insensitive substring of the name, source,
# error or output (`grep`), and by mesh; `%mesh history` does the same from a cell.

# %% demo_title="This mesh's runs" tags=["key-result"]
h = mesh.history.to_frame(mesh=mesh.address)
h[["name", "status"]]

# %%
mesh.history.to_frame(mesh=mesh.address, status="failed")[["name", "error"]]

# %%
[r["name"] for r in mesh.history.query(grep="x.T", mesh=mesh.address)]

# %% tags=["nbval-ignore-output"]
%mesh history --grep busy-work -n 3

# %%
%mesh down
