"""Where the whale scans run on a persisted input: beside the partitions they read.

Q1 and Q5 run one task for each thread of each worker over the partitions that worker
holds (``general.slots``). One task a partition, on a first call (no duration known for
the prefix), let work stealing ship up to 28 of 64 partitions to the other worker, which
left copies of them there; with the scans placed this way nothing is copied.
"""

from __future__ import annotations

from _mesh import isolated_mesh
from dask.utils import key_split
from distributed import futures_of, get_task_stream, wait

from mesh_magics.runes import synthetic, whale_flows, whale_transfers


def test_a_first_scan_of_a_persisted_input_copies_no_partition(tmp_path):
    parts = 24
    with isolated_mesh(tmp_path) as m:  # a fresh scheduler: no task prefix timed yet
        c = m.client
        t, r = synthetic(n_rows=600_000, n_runes=30, n_addresses=20_000, npartitions=parts, seed=5)
        t, r = t.persist(), r.persist()
        wait([t, r])
        keys = [f.key for f in futures_of(t)]
        before = c.who_has(futures_of(t))
        assert all(len(before[k]) == 1 for k in keys)
        with get_task_stream(c) as ts:
            q1 = whale_transfers(t, r)
            q5 = whale_flows(t, r)
        assert len(q1) and len(q5)
        scans = [task for task in ts.data if key_split(task["key"]) in ("q1_many", "q5_many")]
        after = c.who_has(futures_of(t))
        threads = sum(c.nthreads().values())
    assert 0 < len(scans) <= 2 * threads  # one task a worker thread for each of Q1 and Q5
    copied = [k for k in keys if len(after[k]) > 1]
    assert copied == [], f"{len(copied)} of {parts} partitions were copied to a second worker"
