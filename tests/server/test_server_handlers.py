"""Every route of ``<base_url>mesh/api/`` through a real Jupyter server, with auth on (token header)."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest
from _server_helpers import SLOW_CODE, wait_for_status
from traitlets.config import Config

from mesh_magics import __version__
from mesh_magics.errors import HistoryError
from mesh_magics.store import registry
from mesh_magics.store.history import History


@pytest.fixture()
def jp_server_config(mesh_env):
    return Config({"ServerApp": {"jpserver_extensions": {"mesh_magics": True}}})


@pytest.fixture()
def api(jp_fetch):
    """``await api("runs", params=...)`` → (status, JSON body); never raises on an error status."""

    async def call(*parts: str, method: str = "GET", **kwargs):
        if method == "POST":
            kwargs.setdefault("body", "{}")
        r = await jp_fetch("mesh", "api", *parts, method=method, raise_error=False, **kwargs)
        assert r.headers["Content-Type"].startswith("application/json"), r.body[:200]
        body = json.loads(r.body) if r.body else None
        if r.code >= 400:  # every error is {"error": {"reason", "status"}}, never a page or a traceback
            assert set(body) == {"error"} and body["error"]["status"] == r.code, body
            assert body["error"]["reason"] and "Traceback" not in body["error"]["reason"]
        return r.code, body

    return call


async def test_version(api):
    assert await api("version") == (200, {"version": __version__, "api": 1})
    # the handshake route answers whatever the frontend says: it is how the frontend finds out
    code, _ = await api("version", headers={"X-Mesh-Frontend-Version": "0.0.1"})
    assert code == 200


@pytest.mark.parametrize(
    "header, expected",
    [
        ("0.1.0", 200),
        (__version__, 200),
        ("0.1.0; api=1", 200),
        ("9.9.9-beta.1; api=1", 200),
        ("0.0.9", 409),
        ("0.1.0; api=2", 409),
        ("not a version", 400),
    ],
)
async def test_version_handshake(api, busy_kernel, header, expected):
    code, body = await api("meshes", headers={"X-Mesh-Frontend-Version": header})
    assert code == expected
    if code == 409:
        assert "reinstall" in body["error"]["reason"].lower() and "reload" in body["error"]["reason"]


async def test_meshes(api, busy_kernel):
    code, body = await api("meshes")
    assert code == 200
    mine = next(m for m in body["meshes"] if m["id"] == busy_kernel.id)
    assert mine["state"] == "connected" and mine["scheduler_address"] == busy_kernel.address


async def test_nodes(api, busy_kernel):
    code, body = await api("meshes", busy_kernel.id, "nodes")
    assert code == 200 and body["mesh"] == busy_kernel.id
    assert [w["threads"] for w in body["workers"]] == [1]
    assert (await api("meshes", "no-such-mesh", "nodes"))[0] == 404
    assert (await api("meshes", "bad id!", "nodes"))[0] == 400


@pytest.fixture(scope="module")
def seeded(mesh_env):
    with History(mesh_env.history) as h:
        for i in range(3):
            h.add(
                f"seed-{i}",
                mesh="tcp://192.0.2.1:8786",
                source=f"print({i})",
                name=f"seed{i}",
                submitted=100.0 + i,
                status="finished",
            )
        h.update("seed-1", stdout_tail="1\n", stderr_tail="", summary={"targets": 1})
    return ["seed-0", "seed-1", "seed-2"]


async def test_runs_list_filter_and_page(api, seeded):
    code, body = await api("runs", params={"q": "seed", "limit": "2", "offset": "1", "status": "finished"})
    assert code == 200
    assert [r["id"] for r in body["runs"]] == ["seed-1", "seed-0"]
    assert body["total"] == 3 and body["offset"] == 1 and body["limit"] == 2
    assert "stdout_tail" not in body["runs"][0] and body["runs"][0]["mesh_id"] is None


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "501"},
        {"offset": "x"},
        {"status": "done"},
        {"scheduler": "tcp://x:1"},
    ],
)
async def test_runs_reject_bad_queries(api, params):
    code, body = await api("runs", params=params)
    assert code == 400


async def test_runs_filter_by_user(api, mesh_env):
    from mesh_magics.store.audit import current_user

    with History(mesh_env.history) as h:
        for i, user in enumerate(["ann", "bob", "ann"]):
            h.add(f"by-{user}-{i}", mesh="tcp://127.0.0.1:9", source="x", status="finished", user=user)
    code, body = await api("runs", params={"user": "ann", "q": "x"})
    assert code == 200 and sorted(r["id"] for r in body["runs"]) == ["by-ann-0", "by-ann-2"]
    assert body["total"] == 2 and {r["user"] for r in body["runs"]} == {"ann"}
    assert {"ann", "bob"} <= set(body["users"])
    code, body = await api("runs", params={"user": "nobody-at-all"})
    assert code == 200 and body["runs"] == [] and body["total"] == 0
    with History(mesh_env.history) as h:  # a run recorded by a kernel: this process's user
        h.add("by-default", mesh="tcp://127.0.0.1:9", source="x", status="finished")
        assert h.get("by-default")["user"] == current_user()
    assert (await api("runs", params={"user": "u" * 501}))[0] == 400


async def test_run_detail(api, seeded):
    code, body = await api("runs", "seed-1")
    assert code == 200 and body["stdout_tail"] == "1\n" and body["summary"] == {"targets": 1}
    assert (await api("runs", "nope"))[0] == 404


async def test_batch_items_in_the_detail_not_the_listing(api, mesh_env):
    """A batch's per-item outcomes (one row per item) come with its detail; listings carry
    the counts only, so a page of big batches stays small."""
    items = [{"index": i, "status": "failed" if i == 2 else "finished", "attempts": 1} for i in range(3)]
    with History(mesh_env.history) as h:
        h.add("batch-rows", mesh="tcp://127.0.0.1:9", source="item", name="batch-rows", status="failed")
        h.update("batch-rows", summary={"batch": {"items": 3, "finished": 2, "failed": 1}, "items": items})
    code, body = await api("runs", params={"q": "batch-rows"})
    assert code == 200 and [r["id"] for r in body["runs"]] == ["batch-rows"]
    assert body["runs"][0]["summary"] == {"batch": {"items": 3, "finished": 2, "failed": 1}}
    code, body = await api("runs", "batch-rows")
    assert code == 200 and body["summary"]["items"] == items and body["summary"]["batch"]["failed"] == 1


async def test_cancel_a_blocking_run_through_the_server(api, busy_kernel, mesh_env):
    """The busy process is blocked in the run; the route cancels it through the scheduler."""
    busy_kernel.start_run(SLOW_CODE, name="slow-http")
    row = wait_for_status(mesh_env.history, "running")
    await asyncio.sleep(0.3)
    code, body = await api("runs", row["id"], "cancel", method="POST")
    assert code == 200 and body["cancelled"] is True and body["interrupted"], body
    ended = await asyncio.get_running_loop().run_in_executor(None, busy_kernel.read, 15)
    assert ended == {"id": row["id"], "status": "cancelled", "error": ended["error"]}
    code, body = await api("runs", row["id"], "cancel", method="POST")
    assert code == 409 and "already ended" in body["error"]["reason"]
    assert (await api("runs", "no-such-run", "cancel", method="POST"))[0] == 404


async def test_cancel_never_contacts_an_unregistered_scheduler(api, mesh_env):
    with History(mesh_env.history) as h:
        h.add("foreign", mesh="tcp://198.51.100.7:8786", source="x", status="running")
    code, body = await api("runs", "foreign", "cancel", method="POST")
    assert code == 403 and "registry" in body["error"]["reason"]


async def test_unknown_routes_and_verbs_are_json(api):
    assert (await api("nothing", "here"))[0] == 404
    assert (await api("meshes", method="POST"))[0] == 405
    assert (await api("runs", "x", "cancel"))[0] == 405  # GET on a POST route


async def test_internal_errors_hide_the_details(api, jp_serverapp, monkeypatch):
    manager = jp_serverapp.web_app.settings["mesh_magics_manager"]

    async def broken(*args, **kwargs):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(manager, "meshes", broken)
    code, body = await api("meshes")
    assert code == 500 and "secret" not in body["error"]["reason"] and "server log" in body["error"]["reason"]

    def unreadable(*args, **kwargs):
        raise HistoryError("run history /x: cannot open. Fix: set mesh.history.path")

    monkeypatch.setattr(manager.runs, "page", unreadable)
    code, body = await api("runs")
    assert code == 503 and "mesh.history.path" in body["error"]["reason"]


async def test_events_push_meshes_and_runs(jp_ws_fetch, jp_serverapp, mesh_env, busy_kernel):
    jp_serverapp.web_app.settings["mesh_magics_feed"].interval = 0.05
    ws = await jp_ws_fetch("mesh", "api", "events", params={"frontend_version": __version__})
    try:
        first = json.loads(await asyncio.wait_for(ws.read_message(), 10))
        assert first["type"] == "meshes" and busy_kernel.id in {m["id"] for m in first["meshes"]}
        await asyncio.sleep(0.2)
        registry.register(
            {
                "id": "ws-new",
                "scheduler_address": "tcp://127.0.0.1:1",
                "kind": "connected",
                "pid": os.getpid(),
            }
        )
        with History(mesh_env.history) as h:
            h.add("ws-run", mesh=busy_kernel.address, source="x", status="queued")
        seen: dict[str, dict] = {}
        deadline = time.monotonic() + 10
        while not {"meshes", "runs"} <= set(seen) and time.monotonic() < deadline:
            message = json.loads(await asyncio.wait_for(ws.read_message(), 10))
            seen[message["type"]] = message
        assert "ws-new" in {m["id"] for m in seen["meshes"]["meshes"]}
        assert [r["id"] for r in seen["runs"]["changed"]] == ["ws-run"]
    finally:
        ws.close()
        registry.unregister("ws-new")


async def test_events_refuse_an_old_frontend(jp_ws_fetch):
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as info:
        await jp_ws_fetch("mesh", "api", "events", params={"frontend_version": "0.0.1"})
    assert info.value.code == 409


def test_the_rest_spec_lists_exactly_the_routes():
    import re

    import yaml

    from mesh_magics.server import OPENAPI_PATH
    from mesh_magics.server.handlers import API_PREFIX, NotFoundHandler, routes

    spec = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))

    def pattern(path: str) -> str:  # {path} spans segments; other parameters are one segment
        return re.sub(r"\{[^}]+\}", "([^/]+)", path.replace("{path}", "(.*)"))

    in_spec = {(pattern(path), verb) for path, ops in spec["paths"].items() for verb in ops}
    served = {
        (pattern.removeprefix(API_PREFIX), verb)
        for pattern, handler in routes()
        if handler is not NotFoundHandler
        for verb in ("get", "post", "put", "patch", "delete")
        if verb in vars(handler)
    }
    assert in_spec == served


async def test_dashboard_is_proxied_from_the_registry_only(jp_fetch, busy_kernel):
    """The mesh's Dask dashboard through the Jupyter server (JSON, pages), nothing else."""
    r = await jp_fetch("mesh", "api", "meshes", busy_kernel.id, "dashboard", "json", "identity.json")
    assert r.code == 200 and r.headers["Content-Type"].startswith("application/json")
    identity = json.loads(r.body)
    assert identity["address"] == busy_kernel.address and len(identity["workers"]) == 1
    page = await jp_fetch("mesh", "api", "meshes", busy_kernel.id, "dashboard", "status")
    assert page.code == 200 and b"bokeh" in page.body.lower()
    missing = await jp_fetch(
        "mesh", "api", "meshes", "no-such-mesh", "dashboard", "status", raise_error=False
    )
    assert missing.code == 404
