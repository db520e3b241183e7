"""The Dask dashboard of a registered mesh, proxied through the Jupyter server.

``<base_url>mesh/api/meshes/<id>/dashboard/<path>`` serves ``<dashboard>/<path>``
of that mesh's scheduler, and ``…/dashboard/<path>/ws`` bridges Bokeh's
websocket, so the dashboard opens in the browser when the scheduler is only
reachable from the Jupyter server (JupyterHub, SSH tunnels, Kubernetes). The
Dask dashboard's pages use relative links, so they work under this prefix.

Only dashboards found in the registry are contacted — the target host and port
come from the entry's ``dashboard_link``, never from the request — and every
request needs Jupyter's auth like the rest of the API.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import httpclient, web
from tornado.websocket import WebSocketClientConnection, WebSocketHandler, websocket_connect

from .errors import Conflict, NotFound

__all__ = ["DashboardHandler", "DashboardSocketHandler", "dashboard_origin"]

AUTH_RESOURCE = "mesh"
#: response headers not passed on (hop-by-hop, or recomputed by Tornado)
_DROP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "server",
    "date",
    "set-cookie",
}


def dashboard_origin(entry: dict[str, Any]) -> str:
    """``http://host:port`` of a registry entry's dashboard; errors name what is wrong."""
    if entry.get("stale"):
        raise Conflict(f"mesh {entry.get('id')!r} is gone: its kernel has exited")
    link = entry.get("dashboard_link")
    if not link:
        raise NotFound(f"mesh {entry.get('id')!r} has no Dask dashboard (started without one)")
    parts = urlsplit(str(link))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise NotFound(f"mesh {entry.get('id')!r} has a dashboard link the server cannot use: {link!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _target(handler: Any, mesh_id: str, path: str) -> str:
    origin = dashboard_origin(handler.settings["mesh_magics_manager"].entry(mesh_id))
    query = f"?{handler.request.query}" if handler.request.query else ""
    return f"{origin}/{path}{query}"


class _Forbid:
    """Unauthenticated requests get 403, not a redirect to the login page."""

    def get_login_url(self) -> str:
        raise web.HTTPError(403)


class DashboardHandler(_Forbid, JupyterHandler):
    """GET any page, script or JSON of the dashboard."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def get(self, mesh_id: str, path: str) -> None:
        try:
            url = _target(self, mesh_id, path)
        except (NotFound, Conflict) as exc:
            raise web.HTTPError(exc.status, reason=str(exc)[:200]) from None
        client = httpclient.AsyncHTTPClient()
        try:
            resp = await client.fetch(
                url, raise_error=False, follow_redirects=False, request_timeout=30, decompress_response=True
            )
        except Exception as exc:  # the dashboard is down: a 502 that says so
            raise web.HTTPError(502, reason=f"dashboard unreachable: {type(exc).__name__}") from None
        self.set_status(resp.code, reason=resp.reason)
        for name, value in resp.headers.get_all():
            if name.lower() not in _DROP:
                self.set_header(name, value)  # replaces the handler's defaults (Content-Type)
        if resp.code in (301, 302, 303, 307, 308) and resp.headers.get("Location", "").startswith("/"):
            # keep redirects inside the proxy (e.g. / -> /status)
            self.set_header(
                "Location",
                self.request.path.rsplit("/dashboard/", 1)[0] + "/dashboard" + resp.headers["Location"],
            )
        if resp.body:
            self.write(resp.body)
        await self.finish()


class DashboardSocketHandler(_Forbid, WebSocketMixin, WebSocketHandler, JupyterHandler):
    """Bridges Bokeh's websocket (``…/<page>/ws``) to the dashboard."""

    auth_resource = AUTH_RESOURCE
    _upstream: WebSocketClientConnection | None = None

    def set_default_headers(self) -> None:
        """No JupyterHandler headers (CSP etc.) on a websocket upgrade."""

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        if not await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "read", AUTH_RESOURCE)
        ):
            raise web.HTTPError(403)
        await super().get(*args, **kwargs)

    _subprotocols: list[str] = []

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        """Bokeh offers ``["bokeh", <session token>]``; the dashboard picks ``bokeh``."""
        self._subprotocols = list(subprotocols)
        if not subprotocols:
            return None
        return "bokeh" if "bokeh" in subprotocols else subprotocols[0]

    async def open(self, mesh_id: str, path: str) -> None:
        super().open()  # keep-alive pings
        try:
            url = _target(self, mesh_id, f"{path}/ws").replace("http", "ws", 1)
            self._upstream = await websocket_connect(
                url,
                on_message_callback=self._from_upstream,
                max_message_size=64 * 2**20,
                subprotocols=self._subprotocols or None,
            )
        except Exception as exc:
            self.log.warning("mesh_magics | dashboard socket for %s: %s", mesh_id, exc)
            self.close(1011, "dashboard unreachable")

    def _from_upstream(self, message: str | bytes | None) -> None:
        if message is None:
            self.close()
            return
        try:
            self.write_message(message, binary=isinstance(message, bytes))
        except Exception:
            self.close()

    async def on_message(self, message: str | bytes) -> None:
        if self._upstream is not None:
            await self._upstream.write_message(message, binary=isinstance(message, bytes))

    def on_close(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
            self._upstream = None
