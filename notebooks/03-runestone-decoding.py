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
# # Runestone decoding
#
# A **runestone** is a Bitcoin transaction output whose script starts with `OP_RETURN OP_13`
# (bytes `6a 5d`), followed by data pushes. The pushed bytes, concatenated, are a sequence of
# LEB128 integers: `(tag, value)` pairs, then — after tag 0 — edicts in chunks of four. A malformed
# runestone is a **cenotaph**: it burns the runes the transaction spends.
#
# `mesh_magics.runes` decodes exactly as ord, the reference indexer, does. This notebook builds
# scripts by hand to see each rule, then decodes a batch of transactions on the mesh.

# %%
from mesh_magics import runes
from mesh_magics.runes import decode_outputs, format_spaced_rune, parse_spaced_rune, rune_name, rune_number

def varint(n):
    """LEB128: 7 bits per byte, least significant first, high bit = more bytes follow."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)

def runestone(*integers):
    """OP_RETURN OP_13 and one data push of the integers (hex), as ord's encoder writes it."""
    payload = b"".join(varint(i) for i in integers)
    assert len(payload) <= 75, "longer payloads need OP_PUSHDATA1"
    return ("6a5d" + (bytes([len(payload)]) + payload if payload else b"").hex())

PAYMENT = "0014" + "00" * 20   # a P2WPKH output to pay someone
print(varint(300).hex(), varint(2**64 - 1).hex())

# %% [markdown]
# ## Runestones
#
# **An etching** creates a rune. Tag 2 is the flags (bit 0 = etching, bit 1 = open-mint terms), tag
# 4 the name as an integer, 3 the spacers (where the `•` go), 1 the divisibility, 5 the symbol, 6
# the premine, 10 and 8 the amount per mint and the number of mints.

# %% demo_title="An etching" tags=["key-result"]
name, spacers = parse_spaced_rune("DOG•GO•TO•THE•MOON")
print(name, spacers, rune_name(name))
ETCHING, TERMS = 1, 2
dog = runestone(2, ETCHING | TERMS, 4, name, 3, spacers, 1, 5, 5, ord("🐕"),
                6, 100_000_000_000 * 10**5, 10, 1_000, 8, 10_000)
etched = decode_outputs([dog, PAYMENT])
etched

# %%
e = etched["etching"]
format_spaced_rune(int(e["rune_n"]), e["spacers"]), e["symbol"], int(e["premine"]) // 10**e["divisibility"]

# %% [markdown]
# **A mint** asks for one more mint of a rune (tag 20: block, tx of the etching); **a transfer**
# moves units with edicts after the Body tag (0). Edict ids are delta-encoded: `(840000, 3)`,
# then `(0, 2)` means `840000:5`. Output 2 equals the number of outputs here, which splits the units
# across all non-`OP_RETURN` outputs.

# %%
mint = runestone(20, 840_000, 20, 3)
transfer = runestone(0, 840_000, 3, 500, 1, 0, 2, 70, 2)
decode_outputs([mint, PAYMENT]), decode_outputs([transfer, PAYMENT])

# %% [markdown]
# **No runestone** unless the *first* two instructions are the opcodes `OP_RETURN OP_13`: a plain
# `OP_RETURN`, `0x5d` pushed as data, or a payment are all ignored, and only the first candidate
# output counts.

# %%
[decode_outputs(s)["kind"] for s in ([PAYMENT], ["6a0b68656c6c6f20776f726c64"], ["6a015d"], [])]

# %% [markdown]
# ## Every kind of cenotaph
#
# ord knows ten flaws and keeps the first one it meets. A cenotaph carries no edicts; it keeps only
# the etched name and the mint id if it got that far — and still burns its inputs. One script for
# each:

# %% demo_title="Every kind of cenotaph" tags=["key-result"]
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

# %% [markdown]
# Precedence in action: an etching that both overflows its supply *and* carries an unknown even tag
# (126) reports only the overflow, and an etching whose name was read before the flaw keeps it.

# %%
decode_outputs([runestone(2, ETCHING | TERMS, 4, rune_number("MESH"), 10, U128_MAX, 8, 2, 126, 0)])

# %% [markdown]
# ## Spaced names
#
# Names are bijective base-26 numbers (`A` = 0, `Z` = 25, `AA` = 26); spacer bit *i* puts a `•`
# after letter *i*. Both `•` and `.` parse; a leading, trailing or doubled spacer is an error.

# %%
[(n, rune_number(n)) for n in ("A", "Z", "AA", "UNCOMMONGOODS", "BCGDENLQRQWDSLRUGSNLBTMFIJAV")]

# %%
[format_spaced_rune("UNCOMMONGOODS", 128), format_spaced_rune("ABC", 0b11), format_spaced_rune("A", 1),
 parse_spaced_rune("UNCOMMON.GOODS")]

# %%
from mesh_magics.errors import RuneNameError

for text in ["•AB", "A••B", "AB•", "Ab"]:
    try:
        parse_spaced_rune(text)
    except RuneNameError as err:
        print(f"{text!r:8} {err}")

# %% [markdown]
# ## A batch of transactions, decoded on the mesh
#
# Indexers and data pipelines export transactions in the
# [bitcoin-etl](https://github.com/blockchain-etl/bitcoin-etl) shape: one JSON object per
# transaction with its block, position and outputs (`script_hex`, `addresses`). Below, a
# deterministic batch of 60,000 such transactions — payments, etchings, mints, transfers and
# cenotaphs, plus two records that are broken on purpose — is written as JSON-lines files.
# `runes.from_bitcoin_etl` reads one file per partition **on the workers** and decodes every
# runestone there; only the aggregates come back.

# %%
%load_ext mesh_magics

# %% tags=["nbval-ignore-output"]
%mesh up --workers 2 --threads 1

# %%
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
        f.writelines(json.dumps(r) + "\n" for r in records[k::6])
print(len(records), "transactions in", len(list(batch.glob("*.jsonl"))), "files")

# %%
loaded = runes.from_bitcoin_etl(str(batch / "*.jsonl"))
decoded = loaded.table
print(decoded.npartitions, "partitions;", "columns:", ", ".join(decoded.columns))

# %% [markdown]
# Every row is one event a runestone announces: where a premine lands, an edict, a mint request, a
# cenotaph's burn. `needs_ledger` marks the rows whose real effect depends on balances only a replay
# of the UTXO set knows (see `mesh_magics.runes.decode.batch`).

# %% demo_title="Decoded events" tags=["key-result"]
summary = (decoded.groupby(["event", "operation", "needs_ledger"]).size().compute()
           .rename("rows").reset_index().sort_values(["event", "operation"], ignore_index=True))
summary

# %%
decoded["flaw"].dropna().value_counts().compute().sort_index()

# %%
decoded[decoded["event"] == "premine"].head(3)[["block_height", "rune_id", "operation", "receiver", "amount", "needs_ledger"]]

# %% [markdown]
# A broken record never stops a load: it is set aside with the reason.

# %%
loaded.counts()

# %%
loaded.bad_rows.compute()[["reason", "detail"]].sort_values("reason", ignore_index=True)

# %%
%mesh down
