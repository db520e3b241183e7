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
# # From a node's files to Runes whales
#
# The whole path, on a real chain: blocks written by **Bitcoin Core's own validation engine**
# (its `libbitcoinkernel`, through `py-bitcoinkernel`), read from the node's files in parallel
# on the mesh by `mesh_magics.chain`, indexed into a Runes ledger with ord's rules by
# `mesh_magics.runes.index_chain`, and questioned with the whale suite. Nobody else's indexer
# sits in between.
#
# The chain is a small regtest one, built below: a rune etched with a commit and a reveal,
# minted, transferred, partly burned by a cenotaph, and a few large BTC payments.

# %%
%load_ext mesh_magics

# %% tags=["nbval-ignore-output"]
%mesh up --workers 2 --threads 1

# %% [markdown]
# ## A chain written by Core
#
# `chain.regtest.Regtest` mines regtest blocks through Core's validation engine: every block is
# checked and stored by Core, so the data directory gets real `blocks/blk*.dat`, `rev*.dat` (undo
# data), `xor.dat` and the LevelDB block index, as a node writes them. Outputs are locked by
# scripts this builder can spend without keys: five P2WSH "wallets" (`<name> OP_DROP OP_TRUE`)
# and, for the etching, a P2TR output whose script-path leaf pushes the rune's commitment.
#
# An etching needs its commitment revealed by a spend of a P2TR output with at least six
# confirmations (counting the reveal's block): commit, mine five blocks, reveal.

# %%
import tempfile
from pathlib import Path

from mesh_magics import chain, runes
from mesh_magics.chain.format.address import address
from mesh_magics.chain.format.build import push
from mesh_magics.chain.regtest import Lock, Regtest, Utxo
from mesh_magics.runes.ledger.rules import commitment
from mesh_magics.runes.ledger.testchain import encipher
from mesh_magics.runes.protocol.names import parse_spaced_rune
from mesh_magics.runes.protocol.runestone import Edict, Etching, Runestone, Terms

OP_DROP_OP_TRUE = b"\x75\x51"
NAMES = ("alice", "bob", "carol", "dave", "miner")
wallets = {name: Lock.p2wsh(push(name.encode()) + OP_DROP_OP_TRUE) for name in NAMES}
who = {address(lock.script, "regtest"): name for name, lock in wallets.items()}
alice, bob, carol, dave, miner = (wallets[n] for n in NAMES)

datadir = Path(tempfile.mkdtemp(prefix="mesh-regtest-")) / "node"
rune, spacers = parse_spaced_rune("MESH•MAGICS•DEMO")

with Regtest(datadir, xor_key=bytes(range(1, 9))) as node:
    coins = [node.mine(pay_to=miner).coinbase for _ in range(8)]  # 50 BTC each, mature after 100 blocks
    node.mine(n=100)
    # the etching: commit to the rune in a taproot leaf, wait, reveal it with the runestone
    leaf = push(commitment(rune)) + OP_DROP_OP_TRUE
    commit = node.tx([coins[0]], [(10_000, Lock.taproot(leaf)), (coins[0].value - 20_000, carol)])
    node.mine([commit])
    node.mine(n=5)
    terms = Terms(amount=100_000, cap=100, height=(None, None), offset=(None, None))
    etching = Etching(2, 100_000_000, rune, spacers, "⚡", terms, False)  # divisibility 2, premine
    reveal = node.tx([commit.utxo(0)], [(0, encipher(Runestone((), etching, None, 1))), (1_000, alice)])
    etched = node.mine([reveal])
    rune_id = (etched.height, 1)  # the reveal is transaction 1 of its block
    # open mints: bob three times, carol twice
    mints = [
        node.tx([coin], [(0, encipher(Runestone((), None, rune_id, None))), (1_000, minter), (coin.value - 10_000, dave)])
        for coin, minter in zip(coins[1:6], (bob, bob, bob, carol, carol))
    ]
    node.mine(mints[:3])
    node.mine(mints[3:])
    # alice sends 40 % of the premine to dave and 10 % to bob, and pays carol 49.9 BTC
    edicts = (Edict(*rune_id, 40_000_000, 2), Edict(*rune_id, 10_000_000, 3))
    send = node.tx(
        [reveal.utxo(1), coins[6]],
        [(0, encipher(Runestone(edicts, None, None, None))), (1_000, alice), (1_000, dave), (1_000, bob),
         (coins[6].value - 50_000, carol)],
    )  # fmt: skip
    node.mine([send])
    # a cenotaph (an unknown even tag): bob's first mint output is spent and its runes burn
    burn = node.tx([mints[0].utxo(1)], [(0, encipher([126, 1])), (500, bob)])
    node.mine([burn])
    tip = node.tip.height

print(f"tip {tip}, rune {rune_id[0]}:{rune_id[1]}")
print(sorted(p.name for p in (datadir / "blocks").iterdir()))

# %% [markdown]
# ## The chain on the mesh
#
# `chain.read` plans from the block index on the client (the best chain by work, each block's
# file and offset) and gives every worker its own byte ranges: each task preads them, undoes the
# XOR obfuscation by file offset, and parses blocks and undo data into four tables. The client
# never holds block data.

# %%
tables = chain.read(datadir, "regtest")
print(tables)
tables.blocks.tail(3)

# %%
txs = tables.txs.compute()
print(f"{len(txs)} transactions, {int(txs['n_in'].sum())} inputs, {int(txs['n_out'].sum())} outputs")
txs[~txs["is_coinbase"]][["height", "tx_index", "n_in", "n_out", "input_value", "fee"]]

# %% [markdown]
# Each input carries the coin it spends, from Core's undo files: value, script, address, height.
# That is what makes every block readable on its own, and fees exact.

# %%
spent = tables.inputs.compute()
spent = spent[spent["prev_value"].notna()]
spent.assign(owner=spent["prev_address"].map(who).fillna("(commit)"))[["height", "tx_index", "vin", "prev_value", "prev_height", "owner"]]

# %% [markdown]
# ## BTC whales
#
# Transactions moving at least 20 BTC, and the largest flows between addresses (each
# transaction's value split first in, first out from its inputs to its outputs, in satoshis).

# %% tags=["key-result"] demo_title="BTC whale transactions (>= 20 BTC)"
whales = chain.whale_transactions(tables, min_btc=20)
whales[["height", "tx_index", "input_value", "output_value", "fee"]]

# %%
flows = chain.whale_flows(tables, min_btc=20)
flows.assign(sender=flows["sender"].map(who), receiver=flows["receiver"].map(who).fillna("(commit)"))

# %% [markdown]
# ## The Runes ledger
#
# `runes.index_chain` runs ord's rules on the chain tables, on the mesh: runestones are decoded
# and etchings checked per transaction in parallel, the first valid etching of a name and the
# mints below the cap are group-bys, and only the balance replay is sequential, partitioned by
# rune. Amounts stay exact (u128).

# %% tags=["key-result"] demo_title="The rune, as ord would index it"
result = runes.index_chain(tables, "regtest")
result.runes[["rune_id", "name", "symbol", "divisibility", "premine", "mints", "burned", "supply", "number"]]

# %% [markdown]
# Every unspent outpoint holding the rune, and who holds it. Bob's first mint was spent by the
# cenotaph, so those 100,000 units burned; the supply counts them, the outputs do not.

# %% tags=["key-result"] demo_title="Balances per holder"
balances = result.balances.compute()
holders = balances.assign(holder=balances["address"].map(who)).groupby("holder")["amount"].sum()
print(holders.to_string())
print("held", int(holders.sum()), "+ burned", int(result.runes["burned"].iloc[0]), "= supply", int(result.runes["supply"].iloc[0]))

# %%
events = result.events.compute()
events.assign(holder=events["address"].map(who).fillna("-"))[["block_height", "tx_index", "event", "amount", "holder"]]

# %% [markdown]
# ## The whale suite on the indexed transfers
#
# `result.transfers` is the canonical transfers table (senders attributed first in, first out), so
# the six whale queries run on it directly.

# %% tags=["key-result"] demo_title="Top holders from the ledger's transfers"
top = runes.top_holders(result.transfers, n=5)
top.assign(holder=top["address"].map(who))[["rune_id", "holder", "balance", "rank"]]

# %%
runes.concentration(result.transfers)

# %%
big = runes.whale_transfers(result.transfers, result.runes, min_share=0.1)
big

# %% [markdown]
# ## Alerts as new blocks arrive
#
# The node mines on: dave moves most of his runes to carol. Only the new heights are read, and
# the ledger goes on from its saved state (`state=`), so a followed chain costs what its new
# blocks cost. A transfer of at least 10 % of the rune's supply is an alert.

# %% tags=["key-result"] demo_title="A whale alert from a new block"
with Regtest(datadir) as node:
    dave_runes = node.block(tip - 1).txs[1]  # alice's send: dave's output is vout 2
    fee_coin = node.block(8).txs[0]  # the miner's last unspent coinbase
    moved = node.tx(
        [Utxo(dave_runes.txid, 2, 1_000, dave), Utxo(fee_coin.txid, 0, fee_coin.outputs[0].value, miner)],
        [(0, encipher(Runestone((Edict(*rune_id, 35_000_000, 1),), None, None, 2))), (1_000, carol), (1_000, dave),
         (fee_coin.outputs[0].value - 10_000, alice)],
    )  # fmt: skip
    node.mine([moved])
    new_tip = node.tip.height

new_tables = chain.read(datadir, "regtest", start=tip + 1)
later = runes.index_chain(new_tables, "regtest", state=result.state)
supply = int(result.runes["supply"].iloc[0])
moves = later.transfers.compute()
alerts = moves[(moves["operation"] == "send") & (moves["amount"] >= supply // 10)]
alerts.assign(sender=alerts["sender"].map(who), receiver=alerts["receiver"].map(who), share=alerts["amount"] / supply)[
    ["block_height", "rune_id", "sender", "receiver", "amount", "share"]
]

# %% [markdown]
# The state carried the ledger forward: the balances now are those of one pass over the
# whole chain.

# %%
after = later.balances.compute()
after.assign(holder=after["address"].map(who)).groupby("holder")["amount"].sum()

# %%
%mesh down
