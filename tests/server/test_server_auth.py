"""The auth check: a server with unauthenticated access forbidden; no route of ours answers without auth.

The routes are not listed by hand: the test walks the server's routers and
tries every handler of ``mesh_magics.server`` with every verb, so a route added
later without ``@web.authenticated`` fails here.
"""

from __future__ import annotations

import json
import re

import pytest
from tornado.httpclient import HTTPClientError
from tornado.routing import PathMatches
from traitlets.config import Config

VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE")
NO_AUTH = {"Authorization": ""}  # overrides the token header jp_fetch adds


@pytest.fixture()
def jp_server_config(mesh_env):
    return Config(
        {
            "ServerApp": {
                # terminals off: its websocket is undecorated, which the filterwarnings below turns into an error
                "jpserver_extensions": {"mesh_magics": True, "jupyter_server_terminals": False},
                "allow_unauthenticated_access": False,
            }
        }
    )


def our_routes(router) -> list[tuple[str, type]]:
    """``(regex, handler)`` of every mesh_magics.server handler reachable from ``router``."""
    found = []
    for rule in getattr(router, "rules", []):
        target = rule.target
        if hasattr(target, "rules"):
            found.extend(our_routes(target))
        elif isinstance(target, type) and target.__module__.startswith("mesh_magics.server"):
            assert isinstance(rule.matcher, PathMatches)
            found.append((rule.matcher.regex.pattern, target))
    return found


def concrete(pattern: str, base_url: str) -> str:
    """A path the pattern matches, relative to the base URL: each group replaced by ``x``."""
    return re.sub(r"\([^)]*\)", "x", pattern.rstrip("$")).removeprefix(base_url)


@pytest.mark.filterwarnings("error::jupyter_server.utils.JupyterServerAuthWarning")  # undecorated = error
async def test_no_route_answers_without_auth(jp_serverapp, jp_fetch, jp_base_url):
    routes = our_routes(jp_serverapp.web_app.default_router)
    names = {handler.__name__ for _, handler in routes}
    assert {
        "VersionHandler",
        "MeshesHandler",
        "NodesHandler",
        "RunsHandler",
        "RunHandler",
        "CancelHandler",
        "EventsHandler",
        "MetricsHandler",
        "NotFoundHandler",
    } <= names, names
    assert all(pattern.startswith(jp_base_url) for pattern, _ in routes)  # under the base URL

    answered = []
    for pattern, handler in routes:
        path = concrete(pattern, jp_base_url)
        for verb in VERBS:
            r = await jp_fetch(
                path,
                method=verb,
                headers=dict(NO_AUTH),
                raise_error=False,
                body="{}" if verb in ("POST", "PUT", "PATCH") else None,
                allow_nonstandard_methods=True,
            )
            if r.code != 403:
                answered.append(f"{verb} {path} ({handler.__name__}) -> {r.code}")
    assert not answered, "answered without auth:\n" + "\n".join(answered)

    # ...and with the token, the same paths do answer (the 403s above were the auth, not the route)
    r = await jp_fetch(concrete(next(p for p, h in routes if h.__name__ == "VersionHandler"), jp_base_url))
    assert r.code == 200


async def test_metrics_need_auth_and_answer_a_token(jp_fetch):
    """A scraper without credentials gets nothing; with ``Authorization: token`` it gets the page."""
    refused = await jp_fetch("mesh", "api", "metrics", headers=dict(NO_AUTH), raise_error=False)
    assert refused.code == 403 and b"mesh_magics_" not in refused.body
    bad = await jp_fetch(
        "mesh", "api", "metrics", headers={"Authorization": "token wrong"}, raise_error=False
    )
    assert bad.code == 403 and b"mesh_magics_" not in bad.body
    ok = await jp_fetch("mesh", "api", "metrics")  # jp_fetch sends the server's token
    assert ok.code == 200 and ok.headers["Content-Type"].startswith("text/plain")
    assert b"# TYPE mesh_magics_meshes gauge" in ok.body


async def test_events_websocket_needs_auth(jp_ws_fetch):
    with pytest.raises(HTTPClientError) as info:
        await jp_ws_fetch("mesh", "api", "events", headers=dict(NO_AUTH))
    assert info.value.code == 403
    ws = await jp_ws_fetch("mesh", "api", "events")  # with the token it opens
    assert json.loads(await ws.read_message())["type"] == "meshes"
    ws.close()


async def test_cookie_auth_needs_xsrf_on_post(jp_fetch):
    """A browser session (cookie, no token) must send X-XSRFToken matching the _xsrf cookie."""
    r = await jp_fetch("mesh", "api", "version")  # token-authenticated: sets the login cookie
    login = [c.split(";")[0] for c in r.headers.get_list("Set-Cookie") if c.startswith("username-")]
    assert login, r.headers.get_list("Set-Cookie")
    cookies = "; ".join([*login, "_xsrf=abc123"])

    r = await jp_fetch("mesh", "api", "meshes", headers={**NO_AUTH, "Cookie": cookies})
    assert r.code == 200  # the cookie alone authenticates reads

    def post(headers):
        return jp_fetch(
            "mesh",
            "api",
            "runs",
            "some-run",
            "cancel",
            method="POST",
            body="{}",
            headers={**NO_AUTH, "Cookie": cookies, **headers},
            raise_error=False,
        )

    refused = await post({})
    assert refused.code == 403 and json.loads(refused.body)["error"]["status"] == 403
    accepted = await post({"X-XSRFToken": "abc123"})
    assert accepted.code == 404  # past auth and XSRF: the run is unknown
