"""The Dask dashboard of a registered mesh, proxied through the Jupyter server.

``<base_url>mesh/api/meshes/<id>/dashboard/<path>`` serves ``<dashboard>/<path>``
of that mesh's scheduler, and ``…/dashboard/<path>/ws`` bridges Bokeh's
websocket, so the dashboard opens in the browser when the scheduler is only
reachable from the Jupyter server (JupyterHub, SSH tunnels, Kubernetes). The
Dask dashboard's pages use relative links, so they work under this prefix.

What the proxy reaches, and what it refuses:

* **Only dashboards of the registry.** The target host and port come from the
  entry's ``dashboard_link``, never from the request, and every request needs
  Jupyter's auth like the rest of the API.
* **Only loopback, unless configured.** An entry whose dashboard or scheduler host
  is not loopback (``localhost``, ``127.0.0.0/8``, ``::1``) is refused (403) unless
  ``mesh.server.allow-remote-dashboards`` is true in the Jupyter server's dask
  config: a registry file is all it takes to point the proxy somewhere, so by
  default it cannot be pointed into the network.
* **Only dashboard paths** (:func:`upstream_path`). The path is forwarded as the
  browser sent it (percent-escapes kept, so ``%2F`` or ``%3F`` stay inside their
  segment); a path with a ``.`` or ``..`` segment (also spelled ``%2e%2e``), an
  empty segment (``//host``), a scheme (``http:``), a backslash, a control
  character, a malformed escape, or distributed's ``proxy/`` route (which reaches
  on to worker hosts) is refused with 400.
* **No redirect off the dashboard** (:func:`rewrite_location`). Redirects are never
  followed; one that stays on the dashboard is rewritten to stay inside the
  proxy, one to any other host is refused (502), not passed to the browser.
* **Nothing of the caller's is forwarded**: no request headers (cookies,
  ``Authorization``), and the query loses Jupyter's ``token`` and ``_xsrf``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import httpclient, web
from tornado.websocket import WebSocketClientConnection, WebSocketHandler, websocket_connect

from .. import config
from .errors import ApiError, BadRequest, Conflict, Forbidden, NotFound, Unavailable

__all__ = [
    "DashboardHandler",
    "DashboardSocketHandler",
    "dashboard_origin",
    "is_loopback",
    "rewrite_location",
    "scrub_query",
    "upstream_path",
]

AUTH_RESOURCE = "mesh"
#: the setting that lets the proxy reach dashboards on other hosts
ALLOW_REMOTE = "server.allow-remote-dashboards"
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
#: query parameters of Jupyter's own auth, never sent to a dashboard
_PRIVATE_QUERY = frozenset({"token", "_xsrf"})
#: what a path segment may hold, as sent: RFC 3986 pchar, escapes checked apart
_PCHARS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@%]*")
_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
#: first segments that are not the dashboard's own pages
_NOT_DASHBOARD = frozenset({"proxy"})


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback address (names are not resolved)."""
    if not host:
        return False
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def dashboard_origin(entry: dict[str, Any]) -> str:
    """``http://host:port`` of a registry entry's dashboard; errors name what is wrong.

    A dashboard or scheduler host that is not loopback is :class:`Forbidden` unless
    ``mesh.server.allow-remote-dashboards`` is set.
    """
    mesh = entry.get("id")
    if entry.get("stale"):
        raise Conflict(f"mesh {mesh!r} is gone: its kernel has exited")
    link = entry.get("dashboard_link")
    if not link:
        raise NotFound(f"mesh {mesh!r} has no Dask dashboard (started without one)")
    parts = urlsplit(str(link))
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise NotFound(f"mesh {mesh!r} has a dashboard link the server cannot use: {str(link)[:200]!r}")
    if not config.get(ALLOW_REMOTE):
        scheduler = urlsplit(str(entry.get("scheduler_address") or "")).hostname
        for what, host in (("dashboard", parts.hostname), ("scheduler", scheduler)):
            if not is_loopback(host):
                raise Forbidden(
                    f"mesh {mesh!r} has its {what} on {host or 'no host'!r}, not on this machine's "
                    "loopback; the dashboard proxy only reaches loopback hosts unless the Jupyter "
                    "server is started with mesh.server.allow-remote-dashboards: true (dask config, "
                    "or DASK_MESH__SERVER__ALLOW_REMOTE_DASHBOARDS=true)"
                )
    return f"{parts.scheme}://{parts.netloc}"


def upstream_path(raw: str) -> str:
    """The dashboard path to request for ``raw`` (the path after ``dashboard/``, as sent).

    Returned as sent, with a leading ``/``; :class:`BadRequest` when it would leave
    the dashboard's own pages (see the module docstring).
    """
    segments = raw.split("/")
    for i, seg in enumerate(segments):
        why = None
        if not seg and i < len(segments) - 1:
            why = "an empty segment ('//')"
        elif not _PCHARS.fullmatch(seg) or _ESCAPE.search(seg):
            why = "a character that is not allowed in a URL path, or a malformed %-escape"
        else:
            text = unquote(seg, errors="strict") if "%" in seg else seg
            dots = [p for p in re.split(r"[/\\]", text) if p in (".", "..")]
            if dots:  # also '%2e%2e%2f' inside a segment: the dashboard may decode it
                why = f"a {dots[0]!r} segment"
            elif "\\" in text or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
                why = "a backslash or a control character"
            elif i == 0 and _SCHEME.match(text):
                why = "a scheme (an absolute URL)"
            elif i == 0 and text in _NOT_DASHBOARD:
                why = f"distributed's {text!r} route, which reaches past the scheduler"
        if why is not None:
            raise BadRequest(f"dashboard path {raw[:120]!r} is refused: it has {why}")
    return "/" + raw


def scrub_query(query: str) -> str:
    """``query`` (raw) without Jupyter's ``token`` and ``_xsrf`` parameters."""
    kept = [p for p in query.split("&") if p and unquote(p.split("=", 1)[0]) not in _PRIVATE_QUERY]
    return "&".join(kept)


def rewrite_location(location: str, origin: str, prefix: str) -> str:
    """A redirect of the dashboard at ``origin``, as the browser must see it.

    Paths on the dashboard (``/status``, or its own absolute URL) are rewritten under
    ``prefix`` (``…/dashboard``); relative ones are kept. A redirect to any other host
    is :class:`Unavailable`: the proxy does not pass it on.
    """
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        if f"{parts.scheme or urlsplit(origin).scheme}://{parts.netloc}".lower() != origin.lower():
            raise Unavailable(
                f"the dashboard redirected to another host ({parts.netloc or location[:80]!r}); "
                "the proxy does not follow or pass on redirects that leave the dashboard"
            )
        return prefix + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if location.startswith("/"):
        return prefix + location
    return location


class _Forbid:
    """Unauthenticated requests get 403, not a redirect to the login page."""

    def get_login_url(self) -> str:
        raise web.HTTPError(403)


class _Target:
    """The upstream URL of a request: the registry's origin, the path as sent, the query scrubbed."""

    request: Any
    settings: dict[str, Any]
    path_args: list[str]

    def _split(self, websocket: bool = False) -> tuple[str, str]:
        """``(prefix up to …/dashboard, raw path after dashboard/)`` of this request, as sent."""
        base = self.settings.get("base_url", "/")
        found = re.match(re.escape(base) + r"(mesh/api/meshes/[^/]+/dashboard)/(.*)", self.request.path, re.S)
        if found is None:  # the route matched, so this cannot happen; refuse rather than guess
            raise BadRequest(f"cannot read the dashboard path of {self.request.path[:120]!r}")
        rest = found.group(2)
        if websocket:
            rest = rest.removesuffix("/ws")
        return base + found.group(1), rest

    def _target(self, mesh_id: str, websocket: bool = False) -> tuple[str, str, str]:
        """``(url, origin, prefix)``; ApiErrors name what is refused."""
        origin = dashboard_origin(self.settings["mesh_magics_manager"].entry(mesh_id))
        prefix, rest = self._split(websocket)
        path = upstream_path(rest) + ("/ws" if websocket else "")
        query = scrub_query(self.request.query or "")
        return f"{origin}{path}{'?' + query if query else ''}", origin, prefix


class DashboardHandler(_Forbid, _Target, JupyterHandler):
    """GET any page, script or JSON of the dashboard."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def get(self, mesh_id: str, path: str) -> None:
        try:
            url, origin, prefix = self._target(mesh_id)
        except ApiError as exc:
            raise web.HTTPError(exc.status, reason=_reason(exc)) from None
        client = httpclient.AsyncHTTPClient()
        try:
            resp = await client.fetch(
                url, raise_error=False, follow_redirects=False, request_timeout=30, decompress_response=True
            )
        except Exception as exc:  # the dashboard is down: a 502 that says so
            raise web.HTTPError(502, reason=f"dashboard unreachable: {type(exc).__name__}") from None
        location = resp.headers.get("Location")
        if resp.code in (301, 302, 303, 307, 308) and location:
            try:
                location = rewrite_location(location, origin, prefix)
            except ApiError as exc:
                self.log.warning("mesh_magics | dashboard of %s: %s", mesh_id, exc)
                raise web.HTTPError(exc.status, reason=_reason(exc)) from None
        self.set_status(resp.code, reason=resp.reason)
        for name, value in resp.headers.get_all():
            if name.lower() not in _DROP and name.lower() != "location":
                self.set_header(name, value)  # replaces the handler's defaults (Content-Type)
        if location and resp.code in (301, 302, 303, 307, 308):
            self.set_header("Location", location)
        if resp.body:
            self.write(resp.body)
        await self.finish()


def _reason(exc: ApiError) -> str:
    """An HTTP reason phrase: one line, short (Tornado refuses line breaks)."""
    return " ".join(exc.reason.split())[:200]


class DashboardSocketHandler(_Forbid, _Target, WebSocketMixin, WebSocketHandler, JupyterHandler):
    """Bridges Bokeh's websocket (``…/<page>/ws``) to the dashboard."""

    auth_resource = AUTH_RESOURCE
    _upstream: WebSocketClientConnection | None = None
    _url: str | None = None

    def set_default_headers(self) -> None:
        """No JupyterHandler headers (CSP etc.) on a websocket upgrade."""

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        if not await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "read", AUTH_RESOURCE)
        ):
            raise web.HTTPError(403)
        try:  # refused before the upgrade, with the status that says why
            self._url = self._target(args[0], websocket=True)[0].replace("http", "ws", 1)
        except ApiError as exc:
            raise web.HTTPError(exc.status, reason=_reason(exc)) from None
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
            assert self._url is not None
            self._upstream = await websocket_connect(
                self._url,
                on_message_callback=self._from_upstream,
                max_message_size=64 * 2**20,
                subprotocols=self._subprotocols or None,
            )
        except Exception as exc:
            self.log.warning("mesh_magics | dashboard socket for %s: %s", mesh_id, type(exc).__name__)
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
