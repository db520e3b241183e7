"""The Jupyter server extension behind the Mesh side panel.

Enabled on install by ``jupyter-config/server-config/mesh_magics.json``; the
package's ``_jupyter_server_extension_points`` names this module. It serves
``<base_url>mesh/api/`` (see ``openapi.yaml`` here):

* ``manager`` — the Tornado-free core (registry, schedulers, history, cancel);
* ``histories`` — the run-history databases, read-only;
* ``feed`` — the change feed behind the ``events`` websocket;
* ``handshake`` — the frontend/server version check;
* ``handlers`` — thin authenticated Tornado handlers and the error translator;
* ``proxy`` — the mesh's Dask dashboard through the Jupyter server;
* ``metrics`` — Prometheus metrics of the meshes and runs (``GET metrics``).

Import rule (``tests/test_layers.py``): the store, the core's cancel and the worker
metrics, plus jupyter_server and tornado; never IPython or widgets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["OPENAPI_PATH"]

#: The REST specification of the routes.
OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Register the handlers under the server's ``base_url``."""
    from jupyter_server.utils import url_path_join

    from .._version import __version__
    from .feed import ChangeFeed
    from .handlers import API_PREFIX, routes
    from .manager import MeshManager

    web_app = serverapp.web_app
    manager = MeshManager(base_url=web_app.settings["base_url"])
    web_app.settings["mesh_magics_manager"] = manager
    web_app.settings["mesh_magics_feed"] = ChangeFeed(manager)
    base_url = web_app.settings["base_url"]
    web_app.add_handlers(
        ".*$", [(url_path_join(base_url, pattern), handler) for pattern, handler in routes()]
    )
    serverapp.log.info("mesh_magics %s | serving %s", __version__, url_path_join(base_url, API_PREFIX) + "/")
    try:  # a broken plugin never stops the extension: its problem is logged, the routes stay
        from .. import plugins

        for problem in plugins.load().problems:
            serverapp.log.warning("mesh_magics | %s", problem)
    except Exception as exc:
        serverapp.log.warning("mesh_magics | plugins could not be loaded: %s", exc)
