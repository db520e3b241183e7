"""Tornado handlers of ``<base_url>mesh/api/``: thin wrappers around :class:`MeshManager`.

Every verb is ``@tornado.web.authenticated`` (the websocket: ``@ws_authenticated``)
and ``@authorized`` on the resource ``mesh``, so Jupyter's token, cookie, XSRF
and authorizer apply as to the server's own APIs. Errors leave through ONE
translator, :meth:`MeshAPIHandler.write_error`: ``{"error": {"reason", "status"}}``
with the status of the :class:`~.errors.ApiError`, 502/503 for meshes and
databases that cannot be read, and for anything unexpected a 500 whose reason
points at the server log (the traceback goes to the log, never to the client).
The routes are specified in ``openapi.yaml`` beside this module.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from .._version import __version__
from ..errors import HistoryError, MeshConnectionError, MeshError, RegistryError
from .errors import ApiError, NotFound
from .feed import ChangeFeed
from .handshake import API_VERSION, HEADER, QUERY_PARAMETER, check_frontend
from .histories import parse_query
from .manager import MeshManager
from .proxy import DashboardHandler, DashboardSocketHandler

__all__ = ["API_PREFIX", "MeshAPIHandler", "error_reply", "routes"]

#: Where the routes live under the server's base URL.
API_PREFIX = "mesh/api"
AUTH_RESOURCE = "mesh"
_UNEXPECTED = "internal error in the mesh_magics server extension; the Jupyter server log has the details"


def error_reply(exc: BaseException | None, status: int) -> tuple[int, str]:
    """The one error translator: ``(status, reason)`` for an exception a handler raised."""
    if isinstance(exc, ApiError):
        return exc.status, exc.reason
    if isinstance(exc, web.HTTPError):
        reason = exc.log_message % exc.args if exc.log_message and exc.args else exc.log_message
        return exc.status_code, reason or exc.reason or _http_reason(exc.status_code)
    if isinstance(exc, MeshConnectionError):
        return 502, str(exc)
    if isinstance(exc, (HistoryError, RegistryError)):
        return 503, str(exc)
    if isinstance(exc, MeshError):
        return 500, str(exc)
    return (status if exc is None else 500), (_http_reason(status) if exc is None else _UNEXPECTED)


def _http_reason(status: int) -> str:
    from http.client import responses

    return responses.get(status, "error")


class MeshAPIHandler(APIHandler):
    """Base of the REST handlers: version handshake, JSON replies, the error translator."""

    auth_resource = AUTH_RESOURCE
    #: False on ``GET version``, which must always answer: it IS the handshake.
    check_version = True

    @property
    def manager(self) -> MeshManager:
        return self.settings["mesh_magics_manager"]

    async def prepare(self) -> None:  # type: ignore[override]  # tornado's may return None or an Awaitable
        await super().prepare()
        # Only once authenticated: an anonymous caller learns nothing, not even a version.
        if self.check_version and self.current_user is not None and not self._finished:
            check_frontend(self.request.headers.get(HEADER))

    def reply(self, data: Any, status: int = 200) -> None:
        """Finish with ``data`` as JSON."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=str))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        status, reason = error_reply(exc_info[1] if exc_info else None, status_code)
        self.clear_header("Content-Type")
        self.reply({"error": {"reason": reason, "status": status}}, status)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, (ApiError, MeshError)):  # expected: one line, no traceback
            self.log.warning("mesh_magics | %s %s: %s", self.request.method, self.request.path, value)
        else:
            super().log_exception(typ, value, tb)


class VersionHandler(MeshAPIHandler):
    check_version = False

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply({"version": __version__, "api": API_VERSION})


class MeshesHandler(MeshAPIHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply({"meshes": await self.manager.meshes()})


class NodesHandler(MeshAPIHandler):
    @web.authenticated
    @authorized
    async def get(self, mesh_id: str) -> None:
        self.reply(await self.manager.nodes(mesh_id))


class RunsHandler(MeshAPIHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        params = {k: self.get_query_argument(k) for k in self.request.query_arguments}
        self.reply(await self.manager.list_runs(parse_query(params)))


class RunHandler(MeshAPIHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        self.reply(await self.manager.get_run(run_id))


class CancelHandler(MeshAPIHandler):
    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        self.reply(await self.manager.cancel(run_id))


class MetricsHandler(MeshAPIHandler):
    """``GET metrics``: Prometheus text, for scrapers as much as browsers (no version header)."""

    check_version = False

    @web.authenticated
    @authorized
    async def get(self) -> None:
        from .metrics import CONTENT_TYPE

        self.finish(await self.manager.metrics_page(), set_content_type=CONTENT_TYPE)


class NotFoundHandler(MeshAPIHandler):
    """Any other path under ``mesh/api/``: a JSON 404, authenticated like the rest."""

    check_version = False

    def _missing(self) -> None:
        raise NotFound(f"no route {self.request.method} {API_PREFIX}/{self.path_args[0]}")

    @web.authenticated
    async def get(self, path: str) -> None:
        self._missing()

    @web.authenticated
    async def post(self, path: str) -> None:
        self._missing()

    @web.authenticated
    async def put(self, path: str) -> None:
        self._missing()

    @web.authenticated
    async def patch(self, path: str) -> None:
        self._missing()

    @web.authenticated
    async def delete(self, path: str) -> None:
        self._missing()


class EventsHandler(WebSocketMixin, WebSocketHandler, JupyterHandler):
    """``GET events``: a websocket pushing ``meshes`` and ``runs`` messages (see :mod:`.feed`)."""

    auth_resource = AUTH_RESOURCE
    _unsubscribe: Any = None

    def set_default_headers(self) -> None:
        """No JupyterHandler headers (CSP etc.) on a websocket upgrade."""

    @property
    def feed(self) -> ChangeFeed:
        return self.settings["mesh_magics_feed"]

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        user = self.current_user
        if not await _ensure(self.authorizer.is_authorized(self, user, "read", AUTH_RESOURCE)):
            raise web.HTTPError(403)
        try:
            check_frontend(self.get_query_argument(QUERY_PARAMETER, None) or self.request.headers.get(HEADER))
        except ApiError as exc:
            raise web.HTTPError(exc.status, reason=exc.reason[:200]) from None
        await super().get(*args, **kwargs)

    async def open(self, *args: Any, **kwargs: Any) -> None:
        super().open()  # starts the keep-alive pings
        self._unsubscribe = self.feed.subscribe(self._send)
        try:
            meshes = await self.settings["mesh_magics_manager"].meshes()
        except MeshError as exc:
            self.log.warning("mesh_magics | events: cannot list meshes: %s", exc)
            return
        self._send({"type": "meshes", "meshes": meshes})

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self.write_message(json.dumps(message, default=str))
        except WebSocketClosedError:
            self.on_close()

    def on_message(self, message: str | bytes) -> None:
        """The feed is one-way; messages from the client are ignored."""

    def on_close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


async def _ensure(value: Any) -> Any:
    from jupyter_core.utils import ensure_async

    return await ensure_async(value)


def routes() -> list[tuple[str, type]]:
    """``(pattern relative to the base URL, handler)`` for every route, most specific first."""
    return [
        (rf"{API_PREFIX}/version", VersionHandler),
        (rf"{API_PREFIX}/meshes", MeshesHandler),
        (rf"{API_PREFIX}/meshes/([^/]+)/nodes", NodesHandler),
        (rf"{API_PREFIX}/runs", RunsHandler),
        (rf"{API_PREFIX}/runs/([^/]+)/cancel", CancelHandler),
        (rf"{API_PREFIX}/runs/([^/]+)", RunHandler),
        (rf"{API_PREFIX}/events", EventsHandler),
        (rf"{API_PREFIX}/metrics", MetricsHandler),
        (rf"{API_PREFIX}/meshes/([^/]+)/dashboard/(.*)/ws", DashboardSocketHandler),
        (rf"{API_PREFIX}/meshes/([^/]+)/dashboard/(.*)", DashboardHandler),
        (rf"{API_PREFIX}/(.*)", NotFoundHandler),
    ]
