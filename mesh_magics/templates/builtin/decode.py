# mesh-template: decode
# summary: decode a batch of output scripts (runestone / cenotaph / none), spread over the workers
# magic: --name decode
# param scripts: ["6a5d050001010200", "00140000000000000000000000000000000000000000"] | hex scripts, one per transaction (a list), or a file with one per line
# param chunk: 1000 | scripts per task
#
# Each script is decoded as the outputs of its own transaction, with ord's rules.
# The cell's value is a pandas DataFrame: script, kind, and the decoded message as JSON.
import json
import pathlib

import pandas as pd
from distributed import get_client

from mesh_magics import runes

if isinstance(scripts, str):
    scripts = [s.strip() for s in pathlib.Path(scripts).read_text().splitlines() if s.strip()]
batches = [scripts[i : i + chunk] for i in range(0, len(scripts), chunk)]


def _decode(batch):
    return [runes.decode_outputs([s]) for s in batch]


client = get_client()
decoded = [d for part in client.gather(client.map(_decode, batches, pure=False)) for d in part]
table = pd.DataFrame({"script": scripts, "kind": [d["kind"] for d in decoded],
                      "message": [json.dumps(d, sort_keys=True) for d in decoded]})  # fmt: skip
print(table["kind"].value_counts().to_dict(), flush=True)
table
