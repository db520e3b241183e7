"""Where chain data comes from: a node's data directory and a node's REST interface.

* :mod:`.plan` — the client's plan of a data directory read (blocks directory, network,
  XOR key, best chain, height ranges per task), from
* :mod:`.index` — Core's LevelDB block index, or
* :mod:`.scan` — the block files alone (headers linked by prev hash, undo records matched);
* :mod:`.files` — what each task does on its worker: pread its byte ranges, de-XOR, check;
* :mod:`.rest` — following a running node's tip over REST (reorgs included);
* :mod:`.tail` — following a running node's tip from its data directory (the files it
  appends to; reorgs included).
"""

__all__: list[str] = []
