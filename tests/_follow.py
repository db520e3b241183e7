"""A Runes chain grown block by block by Bitcoin Core's validation engine, for the follow tests.

:class:`Story` mines, with :class:`~mesh_magics.chain.regtest.Regtest`, the steps a
follow must see one by one: funding, the commit of an etching and its reveal 6 blocks
later (premine to Alice), two mints (Bob), a small transfer (no alert), then a block
with a whale transfer (60 % of the supply, Alice to Carol) and a BTC whale transaction
(two coinbases, 100 BTC, to Dave), and a competing branch that reorganises that block
away. Outputs pay P2WSH scripts (``<name> OP_DROP OP_TRUE``), so every holder has an
address and the builder can spend them.

:class:`RestNode` serves the builder's active chain as Core's REST interface does
(``chaininfo.json``, ``blockhashbyheight``, ``block``, ``spenttxouts``), over a real
``http.server`` on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

from mesh_magics.chain.format.build import push
from mesh_magics.chain.format.undo import serialize_spent_txouts
from mesh_magics.chain.regtest import Built, Lock, Regtest, Utxo
from mesh_magics.runes.ledger.rules import commitment
from mesh_magics.runes.ledger.testchain import encipher, etching, runestone
from mesh_magics.runes.protocol.names import rune_number
from mesh_magics.runes.protocol.runestone import Terms

NAME = "MESHMAGICSWHALE"
PREMINE = 1_000_000
MINT = 1_000
COIN = 100_000_000


def holder(name: str) -> Lock:
    return Lock.p2wsh(push(name.encode()) + b"\x75\x51")


class Story:
    """The chain of the module doc, one step per method (each mines one or more blocks)."""

    def __init__(self, chain: Regtest) -> None:
        self.chain = chain
        self.coinbases: list[Utxo] = []
        self.rune: tuple[int, int] | None = None
        self.alice: Utxo | None = None  # Alice's rune-bearing output
        self.whale_height: int | None = None
        self.fund = 0  # next coinbase to spend

    def _coin(self) -> Utxo:
        u = self.coinbases[self.fund]
        self.fund += 1
        return u

    def funding(self, n: int = 110) -> None:
        """``n`` blocks whose coinbases (to OP_TRUE) fund the rest, the first 10 mature at the end."""
        for _ in range(n):
            self.coinbases.append(self.chain.mine().coinbase)

    def commit(self) -> Built:
        leaf = push(commitment(rune_number(NAME))) + b"\x75\x51"
        coin = self._coin()
        self._commit = self.chain.tx(
            [coin], [(10_000, Lock.taproot(leaf)), (coin.value - 20_000, Lock.op_true())]
        )
        self.chain.mine([self._commit])
        self.chain.mine(n=4)  # the reveal's block gives the commit its 6th confirmation
        return self._commit

    def reveal(self) -> None:
        rs = runestone(etching=etching(NAME, PREMINE, Terms(MINT, 100, (None, None), (None, None)),
                                       divisibility=2, symbol="W"))  # fmt: skip
        reveal = self.chain.tx([self._commit.utxo(0)], [(0, encipher(rs)), (5_000, holder("alice"))])
        m = self.chain.mine([reveal])
        self.rune = (m.height, 1)
        self.alice = reveal.utxo(1)

    def mints(self) -> None:
        assert self.rune is not None
        txs = []
        for _ in range(2):
            coin = self._coin()
            txs.append(self.chain.tx([coin], [(0, encipher(runestone(mint=self.rune))), (coin.value - 10_000,
                                                                                         holder("bob"))]))  # fmt: skip
        self.chain.mine(txs)

    def _send(self, amount: int, to: str) -> Built:
        """Alice sends ``amount`` units to ``to``, the rest back to Alice (pointer); the BTC
        of the fee coin goes to OP_TRUE (so that no rune transaction moves a whale's BTC)."""
        assert self.rune is not None and self.alice is not None
        fee = self._coin()
        rs = runestone(edicts=[(self.rune, amount, 1)], pointer=2)
        tx = self.chain.tx([self.alice, fee], [(0, encipher(rs)), (5_000, holder(to)), (5_000, holder("alice")),
                                               (fee.value - 30_000, Lock.op_true())])  # fmt: skip
        self.alice = tx.utxo(2)
        return tx

    def small_transfer(self) -> None:
        self.chain.mine([self._send(5_000, "bob")])

    def whales(self) -> tuple[Built, Built]:
        """A block with the rune whale (600,000 units) and the BTC whale (100 BTC)."""
        self._before_whale = (self.alice, self.fund)
        rune = self._send(600_000, "carol")
        a, b = self._coin(), self._coin()
        btc = self.chain.tx([a, b], [(a.value + b.value - 30_000, holder("dave"))])
        self.whale_tip = self.chain.tip
        m = self.chain.mine([rune, btc])
        self.whale_height = m.height
        return rune, btc

    def reorg(self) -> Built:
        """Two blocks on the whale block's parent: the BTC whale again, no rune whale; Core switches."""
        self.alice, self.fund = self._before_whale
        a, b = self._coin(), self._coin()
        btc = self.chain.tx([a, b], [(a.value + b.value - 40_000, holder("erin"))])
        first = self.chain.mine(parent=self.whale_tip)
        self.chain.mine([btc], parent=first)
        assert self.chain.tip.height == (self.whale_height or 0) + 1  # the longer branch won
        return btc


class RestNode:
    """The builder's active chain behind Core's REST routes (see the module doc), as of the last
    :meth:`publish` (the server's threads read that copy while the test mines the next blocks)."""

    def __init__(self, chain: Regtest, *, chain_name: str = "regtest") -> None:
        self.chain, self.chain_name = chain, chain_name
        self.requests: list[str] = []
        self.failing = False  # answer 503 to everything (a node restarting)
        self._lock = threading.Lock()
        self.publish()
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, code: int, body: bytes, kind: str = "application/octet-stream") -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802  (http.server's name)
                node.requests.append(self.path)
                code, body, kind = node.answer(self.path)
                self._send(code, body, kind)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def publish(self) -> None:
        """Serve the builder's chain as it is now."""
        c = self.chain
        with self._lock:
            self.active = [c.block(h) for h in range(c.tip.height + 1)]
            self.by_hash = {m.hash_hex: m for m in c.blocks.values()}

    def answer(self, path: str) -> tuple[int, bytes, str]:
        with self._lock:
            active, by_hash = self.active, self.by_hash
        if self.failing:
            return 503, b"Service Unavailable\r\n", "text/plain"
        parts = path.split("/")
        if path == "/rest/chaininfo.json":
            info = {"chain": self.chain_name, "blocks": len(active) - 1, "bestblockhash": active[-1].hash_hex}
            return 200, json.dumps(info).encode(), "application/json"
        if len(parts) == 4 and parts[3].endswith(".bin"):
            key = parts[3][:-4]
            if parts[2] == "blockhashbyheight":
                h = int(key)
                if h >= len(active):
                    return 404, b"Block height out of range\r\n", "text/plain"
                return 200, active[h].hash, "application/octet-stream"
            found = by_hash.get(key)
            if found is not None and parts[2] == "block":
                return 200, found.raw, "application/octet-stream"
            if found is not None and parts[2] == "spenttxouts":
                return 200, self._spent(found, by_hash), "application/octet-stream"
        return 404, b"Not found\r\n", "text/plain"

    def _spent(self, block, by_hash) -> bytes:
        """The coins the block's transactions spent, found in its ancestors (Core reads its undo data)."""
        parents = {m.hash: m for m in by_hash.values()}
        made = {}
        b = block
        while b.height > 0:
            b = parents[b.parent]
            for tx in b.txs:
                for v, out in enumerate(tx.outputs):
                    made[(tx.txid, v)] = out
        coins = []
        for tx in block.txs[1:]:
            here = {(t.txid, v): o for t in block.txs for v, o in enumerate(t.outputs)}
            coins.append([SimpleNamespace(value=o.value, script=o.script)
                          for i in tx.inputs for o in [made.get((i.prev_txid, i.prev_vout)) or here[(i.prev_txid, i.prev_vout)]]])  # fmt: skip
        return serialize_spent_txouts(coins)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
