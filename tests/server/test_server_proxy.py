"""The dashboard proxy refuses what would leave a registered loopback dashboard's own pages.

A real Jupyter server (pytest-jupyter) in front of a real HTTP server on 127.0.0.1
standing in for a dashboard that misbehaves: it records every request it gets and
answers some paths with redirects. Requests are sent with the raw path as written
(Tornado's client does not normalise ``..`` or escapes).
"""

from __future__ import annotations

import http.server
import json
import os
import threading

import dask
import pytest
from traitlets.config import Config

from mesh_magics.server.errors import BadRequest, Forbidden, Unavailable
from mesh_magics.server.proxy import (
    dashboard_origin,
    is_loopback,
    rewrite_location,
    scrub_query,
    upstream_path,
)
from mesh_magics.store import registry


@pytest.fixture()
def jp_server_config(mesh_env):
    return Config({"ServerApp": {"jpserver_extensions": {"mesh_magics": True}}})


@pytest.fixture()
def upstream():
    """``(seen request targets, port)`` of a dashboard stand-in on 127.0.0.1 (its own thread)."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's spelling
            seen.append(self.path)
            port = self.server.server_address[1]
            where = {
                "/away": "http://203.0.113.7:8787/status",
                "/away-relative": "//203.0.113.7:8787/status",
                "/inside": "/status",
                "/self-absolute": f"http://127.0.0.1:{port}/status?x=1",
            }.get(self.path)
            body = b"" if where else json.dumps({"uri": self.path}).encode()
            self.send_response(302 if where else 200)
            if where:
                self.send_header("Location", where)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield seen, httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def entries(mesh_env, upstream):
    """``local`` (loopback), ``remote`` (another host), ``any-host`` (0.0.0.0, reaches this machine)."""
    _, port = upstream
    made = {
        "local": ("tcp://127.0.0.1:1", f"http://127.0.0.1:{port}/status"),
        "remote": ("tcp://203.0.113.9:8786", "http://203.0.113.9:8787/status"),
        "remote-scheduler": ("tcp://203.0.113.9:8786", f"http://127.0.0.1:{port}/status"),
        "any-host": ("tcp://0.0.0.0:1", f"http://0.0.0.0:{port}/status"),
    }
    for entry_id, (address, link) in made.items():
        registry.register(
            {
                "id": f"proxy-{entry_id}",
                "scheduler_address": address,
                "dashboard_link": link,
                "kind": "connected",
                "pid": os.getpid(),
            }
        )
    yield
    for entry_id in made:
        registry.unregister(f"proxy-{entry_id}")


@pytest.fixture()
def raw(jp_serverapp, http_server_client, jp_base_url, jp_auth_header):
    """``await raw("local", "a/../b", query)`` → the response of that raw dashboard path."""

    async def call(mesh: str, path: str, query: str = "", auth: bool = True):
        url = f"{jp_base_url}mesh/api/meshes/proxy-{mesh}/dashboard/{path}"
        return await http_server_client.fetch(
            url + (f"?{query}" if query else ""),
            headers=jp_auth_header if auth else {},
            raise_error=False,
            follow_redirects=False,
            request_timeout=20,
        )

    return call


@pytest.mark.parametrize(
    "path",
    [
        "a/../../version",
        "..",
        "a/./b",
        "%2e%2e/%2e%2e/api/contents",
        "%2E%2e/x",
        "statics/%2e%2e%2f%2e%2e%2fetc/passwd",  # one segment, but a dashboard may decode it
        "a//b",
        "/203.0.113.7/status",  # '//host' once joined
        "http:/x",
        "https:%2F%2F203.0.113.7%2Fstatus",
        "a%5c..%5cb",  # backslashes
        "a%0d%0aX-Injected:%201",
        "a%00b",
        "a%zzb",
        "proxy/8788/127.0.0.1/status",
    ],
)
async def test_paths_off_the_dashboard_are_refused(raw, entries, upstream, path):
    seen, _ = upstream
    r = await raw("local", path)
    assert r.code == 400, (path, r.code, r.body[:200])
    assert seen == []  # nothing reached the dashboard


async def test_paths_are_forwarded_as_sent(raw, entries, upstream):
    seen, _ = upstream
    for path in [
        "status",
        "json/identity.json",
        "a%23b",
        "a%3Fb=1",
        "info/worker/tcp%3A%2F%2F127.0.0.1%3A1.html",
    ]:
        r = await raw("local", path)
        assert r.code == 200, (path, r.body[:200])
    assert seen == [
        "/status",
        "/json/identity.json",
        "/a%23b",
        "/a%3Fb=1",
        "/info/worker/tcp%3A%2F%2F127.0.0.1%3A1.html",
    ]


async def test_the_jupyter_token_is_not_forwarded(raw, entries, upstream, jp_auth_header):
    seen, _ = upstream
    token = jp_auth_header["Authorization"].split()[-1]
    r = await raw("local", "json/x.json", f"token={token}&keep=1&_xsrf=abc", auth=False)
    assert r.code == 200 and token not in r.body.decode()
    assert seen == ["/json/x.json?keep=1"]


async def test_redirects_stay_inside_the_proxy_or_are_refused(raw, entries, upstream, jp_base_url):
    prefix = f"{jp_base_url}mesh/api/meshes/proxy-local/dashboard"
    inside = await raw("local", "inside")
    assert inside.code == 302 and inside.headers["Location"] == f"{prefix}/status"
    own = await raw("local", "self-absolute")
    assert own.code == 302 and own.headers["Location"] == f"{prefix}/status?x=1"
    for path in ("away", "away-relative"):
        r = await raw("local", path)
        assert r.code == 502 and "Location" not in r.headers, (path, r.headers.get("Location"))
        assert "203.0.113.7" not in r.headers.get("Location", "")


async def test_non_loopback_entries_are_refused_unless_configured(raw, entries, upstream):
    seen, _ = upstream
    for mesh in ("remote", "remote-scheduler", "any-host"):
        r = await raw(mesh, "status")
        assert r.code == 403, (mesh, r.code)
    assert seen == []
    with dask.config.set({"mesh.server.allow-remote-dashboards": True}):
        r = await raw("any-host", "status")  # 0.0.0.0 reaches this machine's 127.0.0.1 listener
    assert r.code == 200 and json.loads(r.body)["uri"] == "/status"


def test_the_rules_one_by_one():
    assert is_loopback("127.0.0.1") and is_loopback("127.5.6.7") and is_loopback("::1")
    assert is_loopback("[::1]") and is_loopback("localhost") and is_loopback("::ffff:127.0.0.1")
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.0.0.1", "example.com", "", None, "localhost.evil"))
    assert upstream_path("") == "/" and upstream_path("statics/css/x.css") == "/statics/css/x.css"
    assert upstream_path("a/") == "/a/"
    with pytest.raises(BadRequest, match="'..'"):
        upstream_path("x/%2e%2E/y")
    assert scrub_query("token=t&a=1&_xsrf=x&b=&tok%65n=t2") == "a=1&b="
    origin = "http://127.0.0.1:8787"
    assert rewrite_location("status", origin, "/p") == "status"
    assert rewrite_location("/status", origin, "/p") == "/p/status"
    assert rewrite_location("HTTP://127.0.0.1:8787/s?q=1", origin, "/p") == "/p/s?q=1"
    with pytest.raises(Unavailable, match="another host"):
        rewrite_location("//127.0.0.1.evil:8787/s", origin, "/p")
    with pytest.raises(Forbidden, match="allow-remote-dashboards"):
        dashboard_origin({"id": "x", "scheduler_address": "tls://10.0.0.2:8786", "dashboard_link": origin})
    with dask.config.set({"mesh.server.allow-remote-dashboards": True}):
        entry = {
            "id": "x",
            "scheduler_address": "tls://10.0.0.2:8786",
            "dashboard_link": "http://10.0.0.2:1/s",
        }
        assert dashboard_origin(entry) == "http://10.0.0.2:1"
