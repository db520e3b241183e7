"""Security cases: auth and XSRF on every route, the dashboard proxy's limits, export targets,
file modes, secrets in logs and history, TLS end to end.

The server cases share ONE real ``jupyter server`` (a token, auth required, only the
mesh_magics extension) started on first use, with its own registry holding entries
that point at a misbehaving dashboard (:class:`~._servers.Hostile`) and at hosts that
are not loopback; a case clears what the hostile dashboard saw before it looks.
Export, mode, secret and TLS cases live in :mod:`._security_files`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from . import Context, Outcome, case
from ._servers import Hostile, JupyterServer, register, scheduler

__all__: list[str] = []

VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE")
UNSAFE = VERBS[1:]
_SHARED: dict[str, Any] = {}


def _shared() -> dict[str, Any]:
    """The shared server, the hostile dashboard and the registry entries (started once)."""
    if not _SHARED:
        base = Path(tempfile.mkdtemp(prefix="mesh-security-"))
        stack = contextlib.ExitStack()
        atexit.register(shutil.rmtree, base, True)
        atexit.register(stack.close)
        hostile = stack.enter_context(Hostile())
        js = stack.enter_context(JupyterServer(base))
        entries = {
            "local": ("tcp://127.0.0.1:1", f"{hostile.origin}/status"),
            "remote": ("tcp://203.0.113.9:8786", "http://203.0.113.9:8787/status"),
            "remote-scheduler": ("tcp://203.0.113.9:8786", f"{hostile.origin}/status"),
            "any-host": ("tcp://0.0.0.0:1", f"http://0.0.0.0:{hostile.port}/status"),
            "named-host": ("tcp://localhost.example:1", f"http://localhost.example:{hostile.port}/"),
            "mapped-v6": ("tcp://[::ffff:127.0.0.1]:1", f"{hostile.origin}/status"),
        }
        for entry_id, (address, link) in entries.items():
            register(base, entry_id, address, link, os.getpid())
        _SHARED.update(base=base, hostile=hostile, server=js, stack=stack)
    return _SHARED


def _routes() -> list[tuple[str, str]]:
    """``(handler name, concrete path)`` of every route the extension serves."""
    from mesh_magics.server.handlers import routes

    return [(h.__name__, re.sub(r"\([^)]*\)", "x", pattern)) for pattern, h in routes()]


def _dash(mesh: str, path: str) -> str:
    return f"mesh/api/meshes/{mesh}/dashboard/{path}"


# ------------------------------------------------------------------ auth and XSRF


def _auth_case(handler: str, path: str) -> None:
    def fn(ctx: Context) -> Outcome:
        js: JupyterServer = _shared()["server"]
        got = {}
        for verb in VERBS:
            body = b"{}" if verb in ("POST", "PUT", "PATCH") else None
            got[f"{verb} none"] = js.call(verb, path, auth=False, body=body).status
            got[f"{verb} bad-token"] = js.call(
                verb, path, auth=False, body=body, headers={"Authorization": "token wrong"}
            ).status
        answered = {k: v for k, v in got.items() if v != 403}
        assert not answered, f"answered without valid auth: {answered}"
        with_token = js.call("GET", path).status
        assert with_token != 403, f"GET {path} with the token is refused too: the 403s prove nothing"
        return Outcome(
            f"{len(got)} requests ({len(VERBS)} verbs, no token / a wrong one): all 403; "
            f"with the token GET answers {with_token}",
            {"statuses": got, "with_token": with_token},
        )

    fn.__name__ = f"auth_{handler}"
    fn.__doc__ = f"every verb of {path} without auth, or with a wrong token, is refused (403)"
    case("security", quick=True)(fn)


for _handler, _path in _routes():
    _auth_case(_handler, _path)


def _login_cookies(js: JupyterServer) -> str:
    r = js.get("mesh/api/version")
    cookies = [
        c.split(";")[0] for c in r.headers.get("set-cookie", "").split(", ") if c.startswith("username-")
    ]
    assert cookies, f"no login cookie in {r.headers.get('set-cookie')!r}"
    return "; ".join([*cookies, "_xsrf=suite-xsrf"])


def _xsrf_case(verb: str) -> None:
    def fn(ctx: Context) -> Outcome:
        js: JupyterServer = _shared()["server"]
        cookies = _login_cookies(js)
        assert js.get("mesh/api/meshes", auth=False, headers={"Cookie": cookies}).status == 200
        refused, passed = {}, {}
        for handler, path in _routes():
            if handler.endswith("SocketHandler") or handler == "EventsHandler":
                continue  # websockets: GET only, origin-checked
            body = None if verb == "DELETE" else b"{}"
            refused[path] = js.call(verb, path, auth=False, body=body, headers={"Cookie": cookies}).status
            passed[path] = js.call(
                verb, path, auth=False, body=body, headers={"Cookie": cookies, "X-XSRFToken": "suite-xsrf"}
            ).status
        wrong = {p: s for p, s in refused.items() if s != 403}
        assert not wrong, f"{verb} with the login cookie and no XSRF token answered: {wrong}"
        blocked = {p: s for p, s in passed.items() if s == 403}
        assert not blocked, f"{verb} with a matching X-XSRFToken is still refused: {blocked}"
        return Outcome(
            f"{verb} on {len(refused)} routes with the login cookie: all 403 without X-XSRFToken; "
            f"with it past XSRF ({sorted(set(passed.values()))})",
            {"without": refused, "with": passed},
        )

    fn.__name__ = f"xsrf_{verb.lower()}"
    fn.__doc__ = f"{verb} with the login cookie needs a matching X-XSRFToken on every route"
    case("security", quick=True)(fn)


for _verb in UNSAFE:
    _xsrf_case(_verb)


# ------------------------------------------------------------------ the dashboard proxy

#: paths that leave the dashboard's own pages: 400, nothing sent upstream
HOSTILE_PATHS = {
    "dotdot": "a/../../version",
    "dotdot-alone": "..",
    "dot": "a/./b",
    "dotdot-encoded": "%2e%2e/%2e%2e/api/contents",
    "dotdot-mixed-case": "%2E%2e/x",
    "dotdot-in-a-segment": "statics/%2e%2e%2f%2e%2e%2fetc/passwd",
    "empty-segment": "a//b",
    "scheme-relative": "/203.0.113.7/status",
    "absolute-url": "http:/203.0.113.7/x",
    "absolute-url-encoded": "https:%2F%2F203.0.113.7%2Fstatus",
    "backslash": "a%5c..%5cb",
    "crlf": "a%0d%0aX-Injected:%201",
    "nul": "a%00b",
    "bad-escape": "a%zzb",
    "distributed-proxy": "proxy/8788/127.0.0.1/status",
}


def _proxy_path_case(slug: str, path: str) -> None:
    def fn(ctx: Context) -> Outcome:
        s = _shared()
        s["hostile"].seen.clear()
        r = s["server"].get(_dash("local", path))
        assert r.status == 400, f"{path!r}: {r.status} {r.body[:200]!r}"
        assert s["hostile"].seen == [], f"{path!r} reached the dashboard: {s['hostile'].seen}"
        return Outcome(f"{path!r}: 400, nothing sent to the dashboard")

    fn.__name__ = f"proxy_path_{slug.replace('-', '_')}"
    fn.__doc__ = f"the dashboard proxy refuses the path {path!r}"
    case("security", quick=True)(fn)


for _slug, _hostile_path in HOSTILE_PATHS.items():
    _proxy_path_case(_slug, _hostile_path)


@case("security", quick=True)
def proxy_escapes_forwarded_as_sent(ctx: Context) -> Outcome:
    """percent-escapes reach the dashboard as sent (%23, %3F and %2F stay inside their segment)"""
    s = _shared()
    paths = ["status", "json/identity.json", "a%23b", "a%3Fb=1", "info/worker/tcp%3A%2F%2F127.0.0.1%3A1.html"]
    s["hostile"].seen.clear()
    codes = [s["server"].get(_dash("local", p)).status for p in paths]
    assert codes == [200] * len(paths), codes
    sent = [line.split()[1] for line in s["hostile"].seen]
    assert sent == ["/" + p for p in paths], sent
    return Outcome(f"{len(paths)} paths forwarded byte for byte", {"sent": sent})


@case("security", quick=True)
def proxy_token_not_forwarded(ctx: Context) -> Outcome:
    """Jupyter's token and _xsrf in the query never reach the dashboard"""
    s = _shared()
    js: JupyterServer = s["server"]
    s["hostile"].seen.clear()
    r = js.get(_dash("local", "json/x.json") + f"?token={js.token}&keep=1&_xsrf=abc", auth=False)
    assert r.status == 200, r.status
    seen = " ".join(s["hostile"].seen)
    assert js.token not in seen and "_xsrf" not in seen and "keep=1" in seen, seen
    return Outcome("authenticated by ?token=: the dashboard got '/json/x.json?keep=1' (no token, no _xsrf)")


REDIRECTS = {
    "away": (502, None),
    "away-relative": (502, None),
    "inside": (302, "/status"),
    "self-absolute": (302, "/status"),
}


def _redirect_case(path: str, status: int, location: str | None) -> None:
    def fn(ctx: Context) -> Outcome:
        r = _shared()["server"].get(_dash("local", path))
        assert r.status == status, f"{path}: {r.status} {r.headers.get('location')}"
        got = r.headers.get("location")
        if location is None:
            assert got is None, f"a redirect off the dashboard was passed on: {got}"
            return Outcome(f"dashboard redirect {path!r} to another host: 502, no Location passed on")
        expected = f"/mesh/api/meshes/local/dashboard{location}"
        assert got == expected, (got, expected)
        return Outcome(f"dashboard redirect {path!r}: kept inside the proxy ({got})")

    fn.__name__ = f"proxy_redirect_{path.replace('-', '_')}"
    fn.__doc__ = f"a dashboard redirect ({path}) is never followed, and never leaves the proxy"
    case("security", quick=True)(fn)


for _path, (_status, _location) in REDIRECTS.items():
    _redirect_case(_path, _status, _location)


NOT_LOOPBACK = ("remote", "remote-scheduler", "any-host", "named-host")


def _remote_case(mesh: str) -> None:
    def fn(ctx: Context) -> Outcome:
        s = _shared()
        s["hostile"].seen.clear()
        r = s["server"].get(_dash(mesh, "status"))
        assert r.status == 403, f"{mesh}: {r.status} {r.body[:200]!r}"
        assert s["hostile"].seen == [], s["hostile"].seen
        return Outcome(f"registry entry {mesh!r} (not loopback): 403, nothing contacted")

    fn.__name__ = f"proxy_refuses_{mesh.replace('-', '_')}"
    fn.__doc__ = f"a registry entry whose host is not loopback ({mesh}) is refused by default"
    case("security", quick=True)(fn)


for _mesh in NOT_LOOPBACK:
    _remote_case(_mesh)


@case("security", quick=True)
def proxy_loopback_spellings_accepted(ctx: Context) -> Outcome:
    """loopback written as an IPv4-mapped IPv6 address is loopback (no false refusal)"""
    from mesh_magics.server.proxy import is_loopback

    spellings = ["127.0.0.1", "127.8.9.10", "localhost", "LOCALHOST.", "::1", "[::1]", "::ffff:127.0.0.1"]
    assert all(is_loopback(h) for h in spellings), [h for h in spellings if not is_loopback(h)]
    r = _shared()["server"].get(_dash("mapped-v6", "status"))
    assert r.status != 403, r.status
    return Outcome(
        f"{len(spellings)} spellings of loopback accepted; the ::ffff:127.0.0.1 entry proxied ({r.status})"
    )


@case("security", quick=True)
def proxy_remote_allowed_when_configured(ctx: Context) -> Outcome:
    """mesh.server.allow-remote-dashboards: true lifts the loopback rule (and only that)"""
    with (
        Hostile() as h,
        JupyterServer(ctx.dir, env={"DASK_MESH__SERVER__ALLOW_REMOTE_DASHBOARDS": "true"}) as js,
    ):
        register(ctx.dir, "any-host", "tcp://0.0.0.0:1", f"http://0.0.0.0:{h.port}/status", os.getpid())
        ok = js.get(_dash("any-host", "status"))
        traversal = js.get(_dash("any-host", "a/../b"))
        away = js.get(_dash("any-host", "away"))
    assert ok.status == 200 and h.seen[0] == "GET /status HTTP/1.1", (ok.status, h.seen)
    assert traversal.status == 400 and away.status == 502, (traversal.status, away.status)
    return Outcome("with the setting: 0.0.0.0 entry proxied (200); '..' still 400, redirect away still 502")


@case("security", quick=True)
def proxy_unknown_and_gone_meshes(ctx: Context) -> Outcome:
    """a mesh not in the registry is 404, a malformed id 400; nothing is contacted"""
    s = _shared()
    s["hostile"].seen.clear()
    codes = {m: s["server"].get(_dash(m, "status")).status for m in ("no-such-mesh", "bad%20id")}
    assert codes == {"no-such-mesh": 404, "bad%20id": 400}, codes
    assert s["hostile"].seen == []
    return Outcome(f"unknown mesh 404, malformed id 400; nothing contacted ({codes})")


@case("security")
def proxy_real_dashboard(ctx: Context) -> Outcome:
    """a real scheduler's dashboard through the proxy: pages and JSON served, traversal refused"""
    js: JupyterServer = _shared()["server"]
    with scheduler(ctx.dir) as (proc, address, dash):
        assert dash is not None
        register(_shared()["base"], "real", address, f"{dash}/status", proc.pid)
        try:
            page = js.get(_dash("real", "status"))
            identity = js.get(_dash("real", "json/identity.json"))
            root = js.get(_dash("real", ""))
            refused = [js.get(_dash("real", p)).status for p in HOSTILE_PATHS.values()]
        finally:
            import dask

            from mesh_magics.store import registry

            with dask.config.set({"mesh.registry.path": str(_shared()["base"] / "registry")}):
                registry.unregister("real")
    assert page.status == 200 and b"bokeh" in page.body.lower(), page.status
    assert identity.status == 200 and identity.json()["address"] == address
    assert root.status in (200, 301, 302), root.status
    if root.status != 200:
        assert root.headers["location"].startswith("/mesh/api/meshes/real/dashboard/"), root.headers
    assert set(refused) == {400}, refused
    return Outcome(
        f"status page and identity.json 200, / -> {root.headers.get('location', root.status)}; "
        f"{len(refused)} hostile paths all 400"
    )


@case("security")
def proxy_real_dashboard_websocket(ctx: Context) -> Outcome:
    """Bokeh's websocket of a real dashboard through the proxy: bridged; off-dashboard paths 400 before the upgrade"""
    import asyncio

    from tornado.httpclient import HTTPClientError, HTTPRequest
    from tornado.websocket import websocket_connect

    js: JupyterServer = _shared()["server"]
    base = _shared()["base"]
    with scheduler(ctx.dir) as (proc, address, dash):
        assert dash is not None
        register(base, "real-ws", address, f"{dash}/status", proc.pid)
        page = js.get(_dash("real-ws", "status")).body.decode()
        token = re.search(r'"token":\s*"([^"]+)"', page)
        assert token, "no Bokeh session token in the proxied status page"

        async def talk() -> tuple[str, list[int]]:
            url = f"ws://127.0.0.1:{js.port}/" + _dash("real-ws", "status/ws")
            ws = await websocket_connect(
                HTTPRequest(url, headers=js.auth()), subprotocols=["bokeh", token.group(1)]
            )
            first = await asyncio.wait_for(ws.read_message(), 20)
            ws.close()
            refused = []
            for path in ("a/../status/ws", "%2e%2e/status/ws", "proxy/1/127.0.0.1/ws"):
                try:
                    await websocket_connect(
                        HTTPRequest(f"ws://127.0.0.1:{js.port}/" + _dash("real-ws", path), headers=js.auth())
                    )
                    refused.append(101)
                except HTTPClientError as e:
                    refused.append(e.code)
            return str(first), refused

        try:
            first, refused = asyncio.run(talk())
        finally:
            import dask

            from mesh_magics.store import registry

            with dask.config.set({"mesh.registry.path": str(base / "registry")}):
                registry.unregister("real-ws")
    assert '"ACK"' in first, first[:200]
    assert refused == [400, 400, 400], refused
    return Outcome(
        f"Bokeh's ACK came through the bridge; {len(refused)} off-dashboard socket paths: 400 before the upgrade"
    )


from . import _security_files  # noqa: E402,F401 - registers the export, mode, secret and TLS cases
