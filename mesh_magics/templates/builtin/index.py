# mesh-template: index
# summary: the Runes ledger (ord's rules) on chain tables written by chain.read(...).to_parquet
# magic: --name index
# param tables: "chain-tables" | the directory chain.read(...).to_parquet wrote
# param network: "mainnet" | mainnet, testnet, testnet4, signet or regtest
# param state: None | a LedgerState saved with .save(PATH), to index only the newer blocks
# param save: None | where to save the new LedgerState (a path), for the next incremental run
#
# The ledger on the mesh: runestones decoded and etchings checked per transaction in
# parallel, the balance replay partitioned by rune. The cell's value is the number of runes,
# balances, transfers and events; `result` stays on the worker for the next cells.
from mesh_magics import chain, runes
from mesh_magics.runes.ledger.state import LedgerState

tables_ = chain.open(tables)
previous = LedgerState.load(state) if state else None
result = runes.index_chain(tables_, network, state=previous)
if save:
    result.state.save(save)
counts = {name: len(getattr(result, name)) for name in ("runes", "balances", "transfers", "events")}
print(counts, flush=True)
counts
