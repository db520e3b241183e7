"""Where the whale scans run on a first call: beside the persisted partitions they read.

A scheduler that has not timed a task prefix guesses 0.5 s a task; for Q1's and Q5's
scans (milliseconds a partition) that guess made work stealing ship input partitions to
the other worker on the first call. The scans' prefixes carry their own duration
(``general.KERNEL_DURATIONS``), read by the embedded mesh's scheduler.

How many partitions move is up to stealing's timing (on a 4M-row, 48-partition input the
old guess moved 3 to 11 per scan, the new one 2): too loose for a test, so the figures are
in BENCHMARKS.md and this test checks what the scheduler is told.
"""

from __future__ import annotations

import dask
from _mesh import isolated_mesh

from mesh_magics.runes.whale.general import KERNEL_DURATIONS


def test_the_scans_durations_reach_the_embedded_schedulers_config(tmp_path):
    with isolated_mesh(tmp_path) as m:
        known = m.client.run_on_scheduler(
            lambda: dask.config.get("distributed.scheduler.default-task-durations")
        )
    assert {k: known[k] for k in KERNEL_DURATIONS} == KERNEL_DURATIONS
    assert known["split-shuffle"] == "1us"  # distributed's own defaults are kept beside them
