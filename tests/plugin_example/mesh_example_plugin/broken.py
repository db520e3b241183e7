"""An entry point that fails on load, on purpose: mesh-magics must carry on without it."""


def register(api) -> None:
    raise RuntimeError("the example plugin's broken entry point, failing on purpose")
