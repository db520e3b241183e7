"""A worker setup that fails, on purpose: the other setups and the workers carry on."""


def dask_setup(worker) -> None:
    raise RuntimeError("the example plugin's failing worker setup")
