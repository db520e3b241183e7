# mesh-template: whales
# summary: the Runes whale suite (top holders, concentration, whale sends, daily activity) on a table
# magic: --name whales
# param table: "synthetic" | a canonical transfers table (Parquet path or glob), or "synthetic"
# param runes_table: None | the canonical runes table (Parquet), for whale sends; None to skip them
# param rows: 20000 | rows of the synthetic table
# param top: 10 | holders per rune
# param min_share: 0.001 | a whale send moves at least this share of its rune's supply
# param loader: None | a loader a plugin registered (mesh_magics.plugins.loaders()) to read table with
#
# Runs on the mesh: the table is read (or generated) on the workers and the queries are
# dask.dataframe (pandas on CPU, cuDF on GPU). The cell's value is a dict of pandas tables.
from mesh_magics import runes

if loader:
    from mesh_magics import plugins

    loaded = plugins.loader(loader)(table)
    transfers, rune_table = getattr(loaded, "table", loaded), None
elif table == "synthetic":
    transfers, rune_table = runes.synthetic(n_rows=rows, n_runes=20, n_addresses=2_000, seed=0)
else:
    transfers = runes.read_parquet(table).table
    rune_table = runes.read_parquet(runes_table, "runes").table if runes_table else None

suite = {
    "top_holders": runes.top_holders(transfers, n=top),
    "concentration": runes.concentration(transfers, top=top),
    "daily_activity": runes.daily_activity(transfers),
}
if rune_table is not None:
    suite["whale_transfers"] = runes.whale_transfers(transfers, rune_table, min_share=min_share)
suite = {k: (v.compute() if hasattr(v, "compute") else v) for k, v in suite.items()}
for k, v in suite.items():
    print(f"{k}: {len(v)} rows", flush=True)
suite
