"""The example plugin's worker setup: every worker says it ran (an environment variable)."""

import os


def dask_setup(worker) -> None:
    os.environ["MESH_EXAMPLE_PRELOAD"] = f"ready on {worker.address}"
