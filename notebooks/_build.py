"""Write the example notebooks from this one source, then (optionally) execute them.

    python notebooks/_build.py            # write the .ipynb files (no outputs)
    python notebooks/_build.py --execute  # ... and run them, storing the outputs nbval checks
    python notebooks/_build.py --execute 02-whale-analytics

Cell tags:

* ``nbval-ignore-output``: the output is volatile by nature (addresses, the moment a
  handle was returned, bokeh's random document ids); nbval runs the cell but does not
  compare. What it shows is checked elsewhere (the tables a chart draws are shown,
  and compared, in the cell before it).
* ``raises-exception``: the cell demonstrates an error.
* ``key-result``: ``python -m mesh_magics demo`` prints this cell's output under the
  heading in ``metadata.demo_title``.

Everything else is compared strictly, through ``notebooks/sanitize.cfg``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
IGNORE = "nbval-ignore-output"
RAISES = "raises-exception"


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(src: str, *tags: str, title: str | None = None):
    cell = new_code_cell(src.strip("\n"))
    tags = list(tags) + (["key-result"] if title else [])
    if tags:
        cell.metadata["tags"] = tags
    if title:
        cell.metadata["demo_title"] = title
    return cell


def notebook(cells):
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


UP = [
    code("%load_ext mesh_magics"),
    code("%mesh up --workers 2 --threads 1", IGNORE),
]
DOWN = [code("%mesh down")]

# --------------------------------------------------------------------------- 01

NB01 = [
    md("""
# mesh-magics quickstart

`%%mesh` runs a notebook cell on the workers of a Dask cluster — the *mesh* — and streams
what the cell prints back into the cell while it runs. This notebook walks through the
everyday loop: start a mesh, run cells on it, move variables in and out, fan out to every
worker, run in the background, and look back at what ran.

`%load_ext mesh_magics` registers the magics. `%mesh up` starts the embedded mesh: a dask-cuda
`LocalCUDACluster` when NVIDIA GPUs are visible, otherwise a `LocalCluster` of worker
processes on this machine. The mesh's status (scheduler address, workers, the Dask dashboard
link) is shown as a table.
"""),
    *UP,
    md("""
## A cell on the mesh

`%%mesh` sends the cell to a worker. What it prints streams into the cell as it happens —
one display per worker and stream, updated in place, so `\\r` progress bars work too. A run
that takes longer than a second also gets a live dashboard under its output (progress, the
node map, logs and, at the end, a summary).

`--name` names the run (history, Dask task keys) and `-o first` keeps a handle on it.
"""),
    code("""
%%mesh --name first-steps -o first
import time
for i in range(3):
    print(f"step {i}: {i} squared is {i * i}", flush=True)
    time.sleep(1)
x = 42
"""),
    md("""
The handle is a `MeshRun`: here its status and the whole stdout; it also knows which worker ran it
(`targets`), how long it took (`duration`) and the cell's value (`result()`).
"""),
    code("""
first.status, first.stdout
"""),
    md("""
## The remote namespace

The worker keeps a namespace for this notebook (the *session*), so a later cell sees `x`. The
last expression of a cell is shown like IPython's `Out`.
"""),
    code("""
%%mesh
x * 2
"""),
    md("""
## Moving variables: push and pull

Notebook variables a cell reads are **pushed** automatically when the worker does not have
them yet (modules travel by reference). `--pull` brings names back into the notebook.
"""),
    code("threshold = 10"),
    code("""
%%mesh --pull evens
evens = [i for i in range(threshold) if i % 2 == 0]
"""),
    code("evens"),
    md("""
The worker already has `threshold` now, so changing it in the notebook is not enough: the
worker would keep using its own copy. `--push threshold` sends it again.
"""),
    code("threshold = 5"),
    code("""
%%mesh --push threshold --pull evens
evens = [i for i in range(threshold) if i % 2 == 0]
"""),
    code("evens"),
    md("""
## Every worker at once

`--on all` runs the cell once per worker, each in its own namespace. The value of the cell is a
dict worker → value, and so is every pulled name.
"""),
    code("""
%%mesh --on all --pull square
from distributed import get_worker
me = int(get_worker().name)
square = me * me
f"worker {me}"
"""),
    code("square"),
    md("""
Inside a cell, `get_client()` reaches the whole mesh: a cell can launch Dask work of its own.
"""),
    code("""
%%mesh
import dask.array as da
da.arange(1_000_000, chunks=100_000).sum().compute()
"""),
    md("""
## Errors come back with the cell's own line numbers

The traceback is the remote one, with the lines of *this* cell and the worker's name. The kernel
and the mesh carry on.
"""),
    code("""
%%mesh
values = [1, 2, 0]
ratios = [10 / v for v in values]
""", RAISES),
    md("""
## Not blocking

`--noblock` returns the `MeshRun` handle at once (its repr shows the state at that moment, so
it changes from run to run); the run's output keeps updating in its own cell while you run
others.
"""),
    code("""
%%mesh --noblock -o job --name background
import time
for i in range(3):
    print("background", i, flush=True)
    time.sleep(0.5)
sum(range(10))
""", IGNORE),
    code("print('the notebook is free while', job.name, 'runs')"),
    code("job.result(timeout=30), job.status"),
    code("print(job.stdout)"),
    md("""
## History and export

Every run is recorded in a SQLite history shared by your kernels. `%mesh history` lists the
latest runs (ids and times change from run to run), `--status` and `--grep` filter, and
`--export` writes them to `.csv`, `.parquet` or `.json`.
"""),
    code("%mesh history -n 5", IGNORE),
    code("%mesh history --status failed -n 1", IGNORE),
    code("""
import tempfile
from pathlib import Path
import pandas as pd
import mesh_magics

export = Path(tempfile.mkdtemp()) / "runs.csv"
%mesh history -n 8 --export $export
runs = pd.read_csv(export)
runs[runs["mesh"] == mesh_magics.current().address][["name", "status", "error"]]
"""),
    md("""
`%mesh down` leaves the mesh, and stops it because `%mesh up` started it.
"""),
    *DOWN,
]

# --------------------------------------------------------------------------- 02

NB02 = [
    md("""
# Whale analytics on a Runes ledger

`mesh_magics.runes` answers the questions whale trackers ask of a Bitcoin Runes ledger, on
dask.dataframe: partitions are reduced where they live and only aggregates travel. This notebook
generates a synthetic ledger of two million transfers **on the mesh**, runs the six queries of
the whale suite, and draws what they found.

| query | answers |
|---|---|
| `whale_transfers(transfers, runes, min_share)` | per rune, the sends of at least `min_share` of its supply: count and volume |
| `top_holders(transfers, n)` | per rune, the `n` largest balances |
| `concentration(transfers, top)` | per rune: holders, top-`top` share, HHI, Gini, Nakamoto coefficient |
| `whale_netflow(transfers, freq, top)` | per rune and time bucket, what its `top` holders gained or lost |
| `whale_flows(transfers, runes, min_share, top)` | the largest sender → receiver flows among whale-sized sends |
| `daily_activity(transfers)` | per rune and UTC day: transfers, volume, distinct senders |

Amounts are raw integer units (the rune's divisibility is not applied) and stay exact.
"""),
    *UP,
    md("""
## A ledger generated on the workers

`runes.synthetic` is deterministic: every partition is a function of `(seed, partition)` only, so
the same arguments give the same ledger on any mesh. The partitions are generated by the workers
(`dd.from_map`); the notebook only builds the plan. The cell runs on the mesh and keeps the
persisted ledger in its session namespace, where the next cells find it.
"""),
    code("""
N_ROWS, N_RUNES, N_ADDRESSES, SEED = 2_000_000, 40, 50_000, 7
"""),
    code("""
%%mesh --name ledger
import warnings
import dask
from distributed import wait
from mesh_magics import runes

# dask-expr warns that it ignores the span annotations mesh-magics puts on a run's tasks
warnings.filterwarnings("ignore", "Dask annotations", UserWarning)

transfers, rune_table = runes.synthetic(n_rows=N_ROWS, n_runes=N_RUNES, n_addresses=N_ADDRESSES,
                                        seed=SEED, npartitions=8)
transfers, rune_table = transfers.persist(), rune_table.persist()
wait([transfers, rune_table])
n, ops, first, last = dask.compute(transfers.shape[0], transfers["operation"].value_counts(),
                                   transfers[["block_height", "block_time"]].min(),
                                   transfers[["block_height", "block_time"]].max())
print(f"{n:,} transfers of {len(rune_table)} runes in {transfers.npartitions} partitions")
print(f"blocks {first['block_height']:,} .. {last['block_height']:,}, "
      f"{first['block_time']:%Y-%m-%d} .. {last['block_time']:%Y-%m-%d}")
print(", ".join(f"{op} {k:,}" for op, k in ops.sort_index().items()))
""", title="The ledger"),
    md("""
## The six queries

One cell on the mesh runs the whole suite against the persisted ledger and pulls the (small)
answers back into the notebook. Whales are the top 10 holders of each rune; a whale transfer
moves at least 0.1 % of its rune's supply in one send.
"""),
    code("""
%%mesh --name whale-suite --pull q1,q2,q3,q4,q5,q6,names
names = rune_table.compute()
q1 = runes.whale_transfers(transfers, rune_table, min_share=0.001)
q2 = runes.top_holders(transfers, n=10)
q3 = runes.concentration(transfers, top=10)
q4 = runes.whale_netflow(transfers, freq="1D", top=10)
q5 = runes.whale_flows(transfers, rune_table, min_share=0.001, top=100)
q6 = runes.daily_activity(transfers)
for label, q in [("Q1 whale_transfers", q1), ("Q2 top_holders", q2), ("Q3 concentration", q3),
                 ("Q4 whale_netflow", q4), ("Q5 whale_flows", q5), ("Q6 daily_activity", q6)]:
    print(f"{label:<20} {len(q):>6,} rows  {', '.join(q.columns)}")
""", title="The whale suite"),
    md("""
The answers are ordinary pandas frames in the notebook now. Runes are easier to read by name, so
join the `runes` table in. **Q1**: the runes with the most whale-sized volume.
"""),
    code("""
import pandas as pd

pd.set_option("display.width", 160)   # wide tables stay on one line in text form
names = names.set_index("rune_id")
label = names["name"]

def named(frame):   # the frame with each rune's spaced name after its id
    frame = frame.copy()
    frame.insert(1, "name", frame["rune_id"].map(label))
    return frame

named(q1).head(8)
""", title="Q1: whale transfers by rune"),
    md("""
**Q3**: how concentrated each rune is. `top_share` is the share of supply held by its 10 largest
holders; `hhi` is the Herfindahl–Hirschman index (1 = one holder); `nakamoto` is how few holders
together hold more than half.
"""),
    code("""
named(q3).sort_values("top_share", ascending=False).head(8).round(4)
""", title="Q3: the most concentrated runes"),
    md("""
**Q2** for the busiest rune (most transfers), and **Q5**: the largest flows between addresses.
"""),
    code("""
busiest = q6.groupby("rune_id")["n"].sum().idxmax()
print("busiest rune:", busiest, label[busiest])
q2[q2["rune_id"] == busiest]
""", title="Q2: top holders of the busiest rune"),
    code("""
named(q5).head(8)
""", title="Q5: the largest whale flows"),
    code("""
q6.groupby("rune_id").agg(days=("day", "nunique"), transfers=("n", "sum"), peak_senders=("senders", "max")) \\
  .sort_values("transfers", ascending=False).head(5)
""", title="Q6: daily activity, the five busiest runes"),
    md("""
## Charts

Tables answer a question you already have; charts show you which to ask. The charts below are
bokeh figures drawn from the frames above (hover for details; in JupyterLab they need the
`jupyter_bokeh` extension, which the binder installs).
"""),
    code("""
from bokeh.io import output_notebook, show
from bokeh.layouts import gridplot
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.palettes import Category10_10, Viridis256
from bokeh.plotting import figure
from bokeh.transform import linear_cmap

output_notebook(hide_banner=True)
""", IGNORE),
    md("""
### Top holders

The ten largest holders of the four busiest runes, as a share of each rune's supply. The planted
whales stand out: a handful of addresses hold most of what was minted.
"""),
    code("""
supply = names["supply"].astype("float64")
busiest4 = q6.groupby("rune_id")["n"].sum().nlargest(4).index
holders = q2[q2["rune_id"].isin(busiest4)].assign(
    share=lambda d: 100 * d["balance"] / d["rune_id"].map(supply),
    who=lambda d: d["rank"].astype(str) + ". " + d["address"].str[:10] + "…" + d["address"].str[-4:])
holders.groupby("rune_id")["share"].sum().round(2).rename("top 10 hold (% of supply)")
"""),
    code("""
figs = []
for i, rid in enumerate(busiest4):
    d = holders[holders["rune_id"] == rid].iloc[::-1]
    p = figure(y_range=list(d["who"]), height=260, width=440, title=f"{label[rid]}  ({rid})",
               x_axis_label="% of supply", toolbar_location=None)
    p.hbar(y="who", right="share", height=0.7, source=ColumnDataSource(d), color=Category10_10[i])
    p.add_tools(HoverTool(tooltips=[("address", "@address"), ("balance", "@balance{0,0}"),
                                    ("share", "@share{0.00} %")]))
    figs.append(p)
show(gridplot(figs, ncols=2))
""", IGNORE),
    md("""
### Concentration across runes

Every rune is a circle: further right, more of it sits with its top 10 holders; higher up, more
unequal its holders overall (Gini). The size is the number of holders and the colour the Nakamoto
coefficient — dark runes can be moved by one or two addresses.
"""),
    code("""
conc = named(q3).assign(size=lambda d: 6 + 20 * (d["holders"] / d["holders"].max()) ** 0.5,
                        top_pct=lambda d: 100 * d["top_share"])
p = figure(height=380, width=720, x_axis_label="top 10 holders' share of supply (%)", y_axis_label="Gini",
           title="Holder concentration per rune", toolbar_location="above")
r = p.scatter("top_pct", "gini", size="size", source=ColumnDataSource(conc), alpha=0.75, line_color="white",
              color=linear_cmap("nakamoto", Viridis256, conc["nakamoto"].min(), conc["nakamoto"].max()))
p.add_tools(HoverTool(renderers=[r], tooltips=[("rune", "@name (@rune_id)"), ("holders", "@holders{0,0}"),
                                               ("top 10", "@top_pct{0.0} %"), ("HHI", "@hhi{0.000}"),
                                               ("Nakamoto", "@nakamoto")]))
show(p)
""", IGNORE),
    md("""
### Whale netflow over time

Q4 gives, per day, what each rune's whales gained (+) or sent away (−). Summed over time it is the
whales' running accumulation; shown here as a share of supply for the five runes where whales moved
the most.
"""),
    code("""
flow = q4.assign(pct=lambda d: 100 * d["netflow"].astype("float64") / d["rune_id"].map(supply))
moved = flow.groupby("rune_id")["pct"].apply(lambda s: s.abs().sum()).nlargest(5).index
curves = (flow[flow["rune_id"].isin(moved)].sort_values("bucket")
          .assign(cumulative=lambda d: d.groupby("rune_id")["pct"].cumsum()))
curves.groupby("rune_id").agg(days=("bucket", "size"), moves=("moves", "sum"),
                              net_pct=("pct", "sum")).round(3)
"""),
    code("""
p = figure(height=360, width=760, x_axis_type="datetime", y_axis_label="whales' cumulative netflow (% of supply)",
           title="What the top 10 holders accumulated, day by day", toolbar_location="above")
for color, (rid, d) in zip(Category10_10, curves.groupby("rune_id")):
    src = ColumnDataSource(d.assign(name=label[rid], day=d["bucket"].dt.tz_localize(None)))
    p.step("day", "cumulative", source=src, color=color, line_width=2, legend_label=label[rid], mode="after")
p.add_tools(HoverTool(tooltips=[("rune", "@name"), ("day", "@day{%F}"), ("net", "@cumulative{0.00} %")],
                      formatters={"@day": "datetime"}))
p.legend.location = "top_left"
p.legend.click_policy = "hide"
show(p)
""", IGNORE),
    md("""
### The largest whale flows, as a graph

Q5's forty largest flows: every address is a node, every flow an arrow from sender to receiver,
as wide as its share of the rune's supply and coloured by rune. Addresses at both ends of arrows
pass whale-sized amounts on: follow the chains.
"""),
    code("""
import numpy as np

flows = q5.head(40).assign(pct=lambda d: 100 * d["amount"].astype("float64") / d["rune_id"].map(supply),
                           name=lambda d: d["rune_id"].map(label))
nodes = pd.Index(pd.unique(pd.concat([flows["sender"], flows["receiver"]])))
weight = (pd.concat([flows.groupby("sender")["pct"].sum(), flows.groupby("receiver")["pct"].sum()])
          .groupby(level=0).sum().reindex(nodes))
relays = sorted(set(flows["sender"]) & set(flows["receiver"]))
print(f"{len(flows)} flows of {flows['rune_id'].nunique()} runes between {len(nodes)} addresses; "
      f"{len(relays)} addresses both receive and send")
"""),
    code("""
from bokeh.models import Arrow, NormalHead

theta = np.linspace(0, 2 * np.pi, len(nodes), endpoint=False)
xy = pd.DataFrame({"x": np.cos(theta), "y": np.sin(theta)}, index=nodes)
runes_in = list(pd.unique(flows["rune_id"]))
color = {rid: Category10_10[i % 10] for i, rid in enumerate(runes_in)}
p = figure(height=560, width=560, x_range=(-1.35, 1.35), y_range=(-1.35, 1.35), match_aspect=True,
           title="The 40 largest whale flows (width ∝ share of supply)", toolbar_location="above")
p.axis.visible = p.grid.visible = False
edges = flows.assign(x0=flows["sender"].map(xy["x"]), y0=flows["sender"].map(xy["y"]),
                     x1=flows["receiver"].map(xy["x"]), y1=flows["receiver"].map(xy["y"]),
                     color=flows["rune_id"].map(color),
                     width=1 + 9 * flows["pct"] / flows["pct"].max())
seg = p.segment("x0", "y0", "x1", "y1", source=ColumnDataSource(edges), line_width="width", color="color", alpha=0.6)
for e in edges.itertuples():
    p.add_layout(Arrow(end=NormalHead(size=8, fill_color=e.color, line_color=e.color), line_alpha=0,
                       x_start=e.x0, y_start=e.y0, x_end=e.x1, y_end=e.y1))
dots = ColumnDataSource(xy.assign(address=nodes, pct=weight.values, size=8 + 18 * (weight.values / weight.max())))
nd = p.scatter("x", "y", size="size", source=dots, color="#444", alpha=0.85)
p.add_tools(HoverTool(renderers=[seg], tooltips=[("rune", "@name (@rune_id)"), ("from", "@sender"),
                                                 ("to", "@receiver"), ("amount", "@amount{0,0}"), ("share", "@pct{0.000} %")]),
            HoverTool(renderers=[nd], tooltips=[("address", "@address"), ("flows", "@pct{0.000} % of supply")]))
show(p)
""", IGNORE),
    md("""
## Same code, any mesh

Nothing above knows it ran on two local processes: on a cluster of GPU machines the same cells run
on dask-cuDF (see `04-gpu-mesh`), and `%mesh connect` points them at any Dask scheduler.
"""),
    *DOWN,
]

# --------------------------------------------------------------------------- 03

NB03 = [
    md("""
# Runestone decoding

A **runestone** is a Bitcoin transaction output whose script starts with `OP_RETURN OP_13`
(bytes `6a 5d`), followed by data pushes. The pushed bytes, concatenated, are a sequence of
LEB128 integers: `(tag, value)` pairs, then — after tag 0 — edicts in chunks of four. A malformed
runestone is a **cenotaph**: it burns the runes the transaction spends.

`mesh_magics.runes` decodes exactly as ord, the reference indexer, does. This notebook builds
scripts by hand to see each rule, then decodes a batch of transactions on the mesh.
"""),
    code("""
from mesh_magics import runes
from mesh_magics.runes import decode_outputs, format_spaced_rune, parse_spaced_rune, rune_name, rune_number

def varint(n):
    \"\"\"LEB128: 7 bits per byte, least significant first, high bit = more bytes follow.\"\"\"
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)

def runestone(*integers):
    \"\"\"OP_RETURN OP_13 and one data push of the integers (hex), as ord's encoder writes it.\"\"\"
    payload = b"".join(varint(i) for i in integers)
    assert len(payload) <= 75, "longer payloads need OP_PUSHDATA1"
    return ("6a5d" + (bytes([len(payload)]) + payload if payload else b"").hex())

PAYMENT = "0014" + "00" * 20   # a P2WPKH output to pay someone
print(varint(300).hex(), varint(2**64 - 1).hex())
"""),
    md("""
## Runestones

**An etching** creates a rune. Tag 2 is the flags (bit 0 = etching, bit 1 = open-mint terms), tag
4 the name as an integer, 3 the spacers (where the `•` go), 1 the divisibility, 5 the symbol, 6
the premine, 10 and 8 the amount per mint and the number of mints.
"""),
    code("""
name, spacers = parse_spaced_rune("DOG•GO•TO•THE•MOON")
print(name, spacers, rune_name(name))
ETCHING, TERMS = 1, 2
dog = runestone(2, ETCHING | TERMS, 4, name, 3, spacers, 1, 5, 5, ord("🐕"),
                6, 100_000_000_000 * 10**5, 10, 1_000, 8, 10_000)
etched = decode_outputs([dog, PAYMENT])
etched
""", title="An etching"),
    code("""
e = etched["etching"]
format_spaced_rune(int(e["rune_n"]), e["spacers"]), e["symbol"], int(e["premine"]) // 10**e["divisibility"]
"""),
    md("""
**A mint** asks for one more mint of a rune (tag 20: block, tx of the etching); **a transfer**
moves units with edicts after the Body tag (0). Edict ids are delta-encoded: `(840000, 3)`,
then `(0, 2)` means `840000:5`. Output 2 equals the number of outputs here, which splits the units
across all non-`OP_RETURN` outputs.
"""),
    code("""
mint = runestone(20, 840_000, 20, 3)
transfer = runestone(0, 840_000, 3, 500, 1, 0, 2, 70, 2)
decode_outputs([mint, PAYMENT]), decode_outputs([transfer, PAYMENT])
"""),
    md("""
**No runestone** unless the *first* two instructions are the opcodes `OP_RETURN OP_13`: a plain
`OP_RETURN`, `0x5d` pushed as data, or a payment are all ignored, and only the first candidate
output counts.
"""),
    code("""
[decode_outputs(s)["kind"] for s in ([PAYMENT], ["6a0b68656c6c6f20776f726c64"], ["6a015d"], [])]
"""),
    md("""
## Every kind of cenotaph

ord knows ten flaws and keeps the first one it meets. A cenotaph carries no edicts; it keeps only
the etched name and the mint id if it got that far — and still burns its inputs. One script for
each:
"""),
    code("""
import pandas as pd

pd.set_option("display.width", 160)   # wide tables stay on one line in text form
U128_MAX = 2**128 - 1
cases = {
    "EdictOutput":         ([runestone(0, 1, 1, 2, 5)], "edict to output 5 of a 1-output transaction"),
    "EdictRuneId":         ([runestone(0, 0, 1, 2, 0)], "edict id 0:1 (block 0 with tx > 0)"),
    "InvalidScript":       (["6a5d04"], "push of 4 bytes with none left"),
    "Opcode":              (["6a5d51"], "OP_1 after the magic (only pushes allowed)"),
    "SupplyOverflow":      ([runestone(2, ETCHING | TERMS, 4, 0, 6, 1, 10, U128_MAX, 8, 1)],
                            "premine + cap × amount > u128::MAX"),
    "TrailingIntegers":    ([runestone(0, 1, 1, 2, 0, 0)], "two integers after the last full edict"),
    "TruncatedField":      ([runestone(2, 1, 2)], "tag 2 with no value"),
    "UnrecognizedEvenTag": ([runestone(20, 1)], "a mint with only one of its two values"),
    "UnrecognizedFlag":    ([runestone(2, ETCHING | 8, 4, 4)], "flag bit 3 is not defined"),
    "Varint":              (["6a5d01" + "80"], "a varint that never ends"),
}
rows = []
for flaw, (scripts, why) in cases.items():
    d = decode_outputs(scripts)
    rows.append({"expected": flaw, "kind": d["kind"], "flaw": d["flaws"][0], "etching": d["etching"] or "-",
                 "mint": d["mint"] or "-", "script": scripts[0], "why": why})
cenotaphs = pd.DataFrame(rows).set_index("expected")
assert (cenotaphs.index == cenotaphs["flaw"]).all()
cenotaphs
""", title="Every kind of cenotaph"),
    md("""
Precedence in action: an etching that both overflows its supply *and* carries an unknown even tag
(126) reports only the overflow, and an etching whose name was read before the flaw keeps it.
"""),
    code("""
decode_outputs([runestone(2, ETCHING | TERMS, 4, rune_number("MESH"), 10, U128_MAX, 8, 2, 126, 0)])
"""),
    md("""
## Spaced names

Names are bijective base-26 numbers (`A` = 0, `Z` = 25, `AA` = 26); spacer bit *i* puts a `•`
after letter *i*. Both `•` and `.` parse; a leading, trailing or doubled spacer is an error.
"""),
    code("""
[(n, rune_number(n)) for n in ("A", "Z", "AA", "UNCOMMONGOODS", "BCGDENLQRQWDSLRUGSNLBTMFIJAV")]
"""),
    code("""
[format_spaced_rune("UNCOMMONGOODS", 128), format_spaced_rune("ABC", 0b11), format_spaced_rune("A", 1),
 parse_spaced_rune("UNCOMMON.GOODS")]
"""),
    code("""
from mesh_magics.errors import RuneNameError

for text in ["•AB", "A••B", "AB•", "Ab"]:
    try:
        parse_spaced_rune(text)
    except RuneNameError as err:
        print(f"{text!r:8} {err}")
"""),
    md("""
## A batch of transactions, decoded on the mesh

Indexers and data pipelines export transactions in the
[bitcoin-etl](https://github.com/blockchain-etl/bitcoin-etl) shape: one JSON object per
transaction with its block, position and outputs (`script_hex`, `addresses`). Below, a
deterministic batch of 60,000 such transactions — payments, etchings, mints, transfers and
cenotaphs, plus two records that are broken on purpose — is written as JSON-lines files.
`runes.from_bitcoin_etl` reads one file per partition **on the workers** and decodes every
runestone there; only the aggregates come back.
"""),
    code("""
%load_ext mesh_magics
"""),
    code("%mesh up --workers 2 --threads 1", IGNORE),
    code("""
import json, random, tempfile
from pathlib import Path

def transactions(n, seed=3):
    rng = random.Random(seed)
    names = [rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") * 3 + "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=10))
             for _ in range(50)]
    for i in range(n):
        height, index = 840_000 + i // 200, i % 200
        pay = [{"index": 1, "script_hex": PAYMENT, "addresses": [f"bc1qpayee{i % 997:05d}"], "type": "witness_v0_keyhash"}]
        r = rng.random()
        if r < 0.55:
            scripts = []                                                      # a plain payment
        elif r < 0.60:
            scripts = [runestone(2, ETCHING | TERMS, 4, rune_number(names[i % 50]), 3, 0b1000100,
                                 6, rng.randrange(1, 10**9), 10, 1000, 8, 100_000)]
        elif r < 0.85:
            scripts = [runestone(20, 840_000, 20, 1 + i % 7)]                  # mint
        elif r < 0.98:
            scripts = [runestone(0, 840_000, 1 + i % 7, rng.randrange(1, 10**6), 1)]  # transfer to output 1
        else:
            scripts = [rng.choice(list(cases.values()))[0][0]]                # a cenotaph
        outputs = [{"index": 0, "script_hex": s, "addresses": [], "type": "nulldata"} for s in scripts]
        yield {"type": "transaction", "hash": f"{rng.getrandbits(256):064x}", "block_number": height,
               "block_timestamp": 1713571767 + 600 * (height - 840_000), "index": index,
               "outputs": outputs + pay}

batch = Path(tempfile.mkdtemp())
records = list(transactions(60_000))
records[10]["outputs"][0]["script_hex"] = "zz"        # broken on purpose: not hex
records[20]["block_number"] = "eight hundred"         # broken on purpose: not a height
for k in range(6):
    with open(batch / f"transactions-{k}.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\\n" for r in records[k::6])
print(len(records), "transactions in", len(list(batch.glob("*.jsonl"))), "files")
"""),
    code("""
loaded = runes.from_bitcoin_etl(str(batch / "*.jsonl"))
decoded = loaded.table
print(decoded.npartitions, "partitions;", "columns:", ", ".join(decoded.columns))
"""),
    md("""
Every row is one event a runestone announces: where a premine lands, an edict, a mint request, a
cenotaph's burn. `needs_ledger` marks the rows whose real effect depends on balances only a replay
of the UTXO set knows (see `mesh_magics.runes.batch`).
"""),
    code("""
summary = (decoded.groupby(["event", "operation", "needs_ledger"]).size().compute()
           .rename("rows").reset_index().sort_values(["event", "operation"], ignore_index=True))
summary
""", title="Decoded events"),
    code("""
decoded["flaw"].dropna().value_counts().compute().sort_index()
"""),
    code("""
decoded[decoded["event"] == "premine"].head(3)[["block_height", "rune_id", "operation", "receiver", "amount", "needs_ledger"]]
"""),
    md("""
A broken record never stops a load: it is set aside with the reason.
"""),
    code("""
loaded.counts()
"""),
    code("""
loaded.bad_rows.compute()[["reason", "detail"]].sort_values("reason", ignore_index=True)
"""),
    *DOWN,
]

# --------------------------------------------------------------------------- 04

NB04 = [
    md("""
# The whale suite on GPUs

On a mesh of NVIDIA GPUs, `%mesh up` starts a dask-cuda `LocalCUDACluster` (one worker per GPU)
and the whale suite runs on dask-cuDF: the same functions, the same answers, cuDF frames in and
out. This notebook checks for a GPU and cuDF first; **without them it says so and runs the same
analysis on pandas**, so it runs anywhere.
"""),
    code("""
import importlib.util
from mesh_magics._cluster import gpu_probe

probe = gpu_probe()
HAS_CUDF = importlib.util.find_spec("cudf") is not None and importlib.util.find_spec("dask_cudf") is not None
BACKEND = "cudf" if probe.usable and HAS_CUDF else "pandas"
if BACKEND == "cudf":
    print(f"GPU mesh: {probe.reason}; the suite runs on cuDF")
else:
    why = probe.reason if not probe.usable else "cuDF is not installed (pip install 'mesh-magics[gpu]')"
    print(f"No GPU backend here ({why}).")
    print("Running on pandas instead: the answers are the same, only slower.")
""", title="Backend"),
    code("%load_ext mesh_magics"),
    code("%mesh up", IGNORE),
    code("""
import mesh_magics
mesh = mesh_magics.current()
print(mesh.kind, "with", len(mesh.workers()), "worker(s)")
""", IGNORE),
    md("""
## The same ledger on the chosen backend

`synthetic(..., backend=BACKEND)` builds each partition as a pandas or a cuDF frame on the worker
that generates it. The ledger is the same either way: it is a function of its arguments only.
"""),
    code("""
from mesh_magics import runes

ARGS = dict(n_rows=500_000, n_runes=30, n_addresses=20_000, seed=11, npartitions=4)
transfers, rune_table = runes.synthetic(**ARGS, backend=BACKEND)
transfers, rune_table = transfers.persist(), rune_table.persist()
type(transfers._meta).__module__.split(".")[0], len(transfers)
"""),
    code("""
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
""", IGNORE),
    md("""
## Same answers

The reference is the same suite on pandas over the same ledger. On a GPU mesh this compares cuDF
against pandas; on CPU both sides are pandas, which still checks that the suite is deterministic.
Integer columns must be equal; ratios agree to 1e-9.
"""),
    code("""
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
""", title="Same answers as pandas"),
    code("""
to_pandas(answers["concentration"]).sort_values("hhi", ascending=False).head(5).round(4)
"""),
    md("""
On a GPU machine, install the extra (`pip install "mesh-magics[gpu]"`) and rerun: the first cell
then reports the GPUs and every query above runs on cuDF.
"""),
    *DOWN,
]

# --------------------------------------------------------------------------- 05

NB05 = [
    md("""
# Dashboards, events and history

Three ways to keep an eye on a mesh: the **live dashboard** (in every long cell, or standalone with
`%mesh dashboard`), **events** you can hook Python callbacks to, and the **history** of every run.
"""),
    *UP,
    md("""
## The standalone dashboard

`%mesh dashboard` shows the mesh as a whole, not tied to one run: the **node map** (one tile per
worker: CPU, memory, tasks, GPU when there is one), the runs in flight with their progress, and
their logs. It keeps updating while you run other cells, and stops when you close it or the mesh
goes down. (Its text form, which you see where widgets cannot render, is a snapshot.)
"""),
    code("%mesh dashboard", IGNORE),
    md("""
Every `%%mesh` run that lasts more than a second gets the same view for itself under its output:
its task progress, the node map with the workers it uses highlighted, its logs, and a summary
(duration, tasks, bytes transferred and spilled, peak memory) when it ends.
"""),
    code("""
%%mesh --name busy-work
import time
import dask.array as da
from distributed import get_client

print("building a 2,000 × 2,000 random matrix in 16 blocks", flush=True)
x = da.random.RandomState(0).random((2_000, 2_000), chunks=(500, 500))
total = (x @ x.T).sum().compute()
time.sleep(1)
print(f"sum of x·xᵀ: {total / 1e9:.2f} billion", flush=True)
"""),
    md("""
The node map is also available as data. `mesh.workers()` has one row per worker (address, host,
threads, memory, tasks, GPU); `mesh.status()` is what `%mesh status` shows.
"""),
    code("""
import mesh_magics

mesh = mesh_magics.current()
[(w.name, w.threads, w.gpu_name) for w in mesh.workers()]
"""),
    code("%mesh status", IGNORE),
    md("""
## Events and callbacks

`mesh.on(event, callback)` calls `callback(payload)` for `run_started`, `run_finished`,
`run_failed`, `run_cancelled`, `worker_joined`, `worker_left`, `connected`, `disconnected` and
`reconnecting`. Callbacks run on whichever thread noticed the event (the Dask event loop for
worker events), so keep them quick: append to a list, post to a queue, ping a chat.
"""),
    code("""
seen = []

def record(event):
    def callback(payload):
        seen.append((event, payload.get("name") or "worker"))
    return callback

subscriptions = [mesh.on(event, record(event))
                 for event in ("run_started", "run_finished", "run_failed", "worker_joined", "worker_left")]
"""),
    code("""
%%mesh --name tally
sum(range(100))
"""),
    code("""
%%mesh --name oops
{}["missing"]
""", RAISES),
    md("""
Workers joining and leaving are events too. Scaling the embedded `LocalCluster` to three workers
and back shows both (the callback runs on Dask's event loop, so wait for it).
"""),
    code("""
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
"""),
    code("""
seen
""", title="Events seen by the callbacks"),
    code("""
for s in subscriptions:
    s.cancel()
"""),
    md("""
## Searching the history

Every run of every kernel lands in the history (SQLite, shared safely between kernels). From
Python, `mesh.history` filters by status, by a case-insensitive substring of the name, source,
error or output (`grep`), and by mesh; `%mesh history` does the same from a cell.
"""),
    code("""
h = mesh.history.to_frame(mesh=mesh.address)
h[["name", "status"]]
""", title="This mesh's runs"),
    code("""
mesh.history.to_frame(mesh=mesh.address, status="failed")[["name", "error"]]
"""),
    code("""
[r["name"] for r in mesh.history.query(grep="x.T", mesh=mesh.address)]
"""),
    code("%mesh history --grep busy-work -n 3", IGNORE),
    *DOWN,
]

NOTEBOOKS = {
    "01-quickstart": NB01,
    "02-whale-analytics": NB02,
    "03-runestone-decoding": NB03,
    "04-gpu-mesh": NB04,
    "05-dashboards": NB05,
}


def write(names: list[str]) -> list[Path]:
    paths = []
    for name in names:
        path = HERE / f"{name}.ipynb"
        nbformat.write(notebook(NOTEBOOKS[name]), path)
        paths.append(path)
    return paths


def execute(path: Path, timeout: int = 600) -> float:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    t0 = time.time()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(HERE)}}).execute()
    for cell in nb.cells:  # keep the stored notebook free of run-specific metadata
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    return time.time() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="notebooks to build (default: all)")
    p.add_argument("--execute", action="store_true", help="run them and store the outputs")
    a = p.parse_args()
    names = [n.removesuffix(".ipynb") for n in a.names] or list(NOTEBOOKS)
    for path in write(names):
        if a.execute:
            print(f"{path.name}: executed in {execute(path):.0f} s", flush=True)
        else:
            print(f"{path.name}: written", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
