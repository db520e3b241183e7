"""``%mesh audit``, ``%mesh template``, ``%mesh cache`` and the plugins' dashboard tiles, for :mod:`.magics`.

A thin shell like the rest of ``ipython/``: the parsers of the two sub-commands and what
they print or return; the work is in :mod:`mesh_magics.store.audit`,
:mod:`mesh_magics.templates` and :mod:`mesh_magics.plugins`.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import MeshUsageError

__all__ = ["add_parsers", "audit", "cache", "plugin_problems", "template", "tiles"]


def add_parsers(sub: Any) -> None:
    """The ``audit``, ``template`` and ``cache`` sub-commands of ``%mesh``."""
    a = sub.add_parser("audit", help="who ran what where (an append-only trail), or --export FILE")
    a.add_argument("-n", type=int, help="how many runs (default 20 shown, all exported)")
    a.add_argument("--user", help="only this user's runs")
    a.add_argument(
        "--outcome", help="finished, failed, cancelled, timeout, lost or in-flight (comma-separated)"
    )
    a.add_argument("--mesh", help="only runs on this scheduler address")
    a.add_argument("--notebook", help="only runs of this notebook path")
    a.add_argument("--since", help="submitted at or after this time (ISO-8601, UTC)")
    a.add_argument("--until", help="submitted before this time (ISO-8601, UTC)")
    a.add_argument("--export", help="write the records to FILE (.csv or .json)")
    a.add_argument("--force", action="store_true", help="with --export: replace an existing file")
    t = sub.add_parser("template", help="list templates, show one (--help), insert it or --run it")
    t.add_argument("name", nargs="?", help="the template (none: list them all)")
    t.add_argument("args", nargs="*", help="NAME=VALUE for its parameters")
    t.add_argument("--run", action="store_true", help="run it now instead of inserting the cell")
    t.add_argument("--show", action="store_true", help="describe the template and its parameters")
    c = sub.add_parser("cache", help="the results %%%%mesh --cache keeps (list), or clear them")
    c.add_argument("action", nargs="?", default="list", choices=("list", "clear"))


def cache(a: argparse.Namespace, mesh: Any) -> Any:
    """``%mesh cache [list]``: the cached results (a DataFrame); ``%mesh cache clear``."""
    from .. import config

    results = mesh.cache
    if a.action == "clear":
        print(f"cleared {results.clear()} cached result(s)")
        return None
    bounds = (
        f"mesh.cache.max-entries={config.get('cache.max-entries')}, max-bytes={config.get('cache.max-bytes')}"
    )
    rows = results.describe()
    if not rows:
        print(f"no cached results ({bounds}); `%%mesh --cache` stores one")
        return None
    import pandas as pd

    print(f"{len(rows)} cached result(s), {results.nbytes} bytes ({bounds})")
    return pd.DataFrame(rows).set_index("id")


def audit(a: argparse.Namespace, mesh: Any) -> Any:
    """``%mesh audit``: a table of the newest runs (a DataFrame), or an export."""
    from ..store.audit import AuditLog

    if a.n is not None and a.n < 1:
        raise MeshUsageError(f"-n {a.n}: give a positive number of runs (-n 20 shows the last 20)")
    log = (mesh.audit if mesh is not None else None) or AuditLog()
    filters = {"user": a.user, "mesh": a.mesh, "notebook": a.notebook, "since": a.since, "until": a.until,
               "outcome": a.outcome.split(",") if a.outcome else None}  # fmt: skip
    if a.export:
        n = log.export(a.export, overwrite=a.force, n=a.n, **filters)
        print(f"exported {n} audit record(s) to {a.export}")
        return None
    rows = log.runs(a.n or 20, **filters)
    if not rows:
        print("no runs audited" + (" match" if any(v for v in filters.values()) else ""))
        return None
    return _audit_view(rows)


def _audit_view(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    view = pd.DataFrame.from_records(rows)
    view["run"] = view["run_id"].str[:8]
    view["submitted"] = pd.to_datetime(view["submitted"], unit="s", utc=True).dt.strftime("%Y-%m-%d %H:%M:%S")
    view["duration_s"] = (view["finished"] - view["started"]).round(3)
    view["targets"] = [len(t) for t in view["targets"]]
    view["code"] = view["code_hash"].str[:12]
    view["outcome"] = view["outcome"].fillna("in flight")
    cols = ["run", "submitted", "user", "host", "notebook", "name", "outcome", "duration_s", "targets",
            "output_bytes", "code", "mesh"]  # fmt: skip
    return view[cols].set_index("run")


def template(a: argparse.Namespace, shell: Any, run_cell: Any) -> Any:
    """``%mesh template``: the list, one template's description, its cell inserted, or run
    (``run_cell(line, code)`` is ``%%mesh`` itself; a ``magic: local`` template runs in the
    notebook)."""
    from .. import templates

    cat = templates.catalog()
    for problem in cat.problems:
        print(f"warning: {problem}")
    if a.name is None:
        if not cat.templates:
            print("no templates")
            return None
        for t in cat.templates.values():
            params = " ".join(f"{p.name}={p.default!r}" for p in t.params)
            print(f"{t.name:<12} {t.summary}\n{'':<12} {params or '(no parameters)'}   [{t.origin}]")
        print(
            "\n`%mesh template NAME --show` describes one; `%mesh template NAME k=v …` inserts it, --run runs it"
        )
        return None
    tpl = cat.get(a.name)
    if a.show:
        print(tpl.describe())
        return None
    cell = tpl.render(a.args)
    if a.run:
        if tpl.magic == "local":
            shell.ex(tpl.code(a.args))
            return None
        line, _, code = cell.partition("\n")
        return run_cell(line.removeprefix("%%mesh").strip(), code)
    shell.set_next_input(cell, replace=False)
    print(f"template {tpl.name}: the cell below was inserted; run it (or `%mesh template {tpl.name} --run`)")
    return None


def tiles(mesh: Any) -> list[Any]:
    """The plugins' dashboard tiles rendered for ``mesh``; a tile that raises shows why."""
    from .. import plugins

    out = []
    for plugin, title, render in plugins.tiles():
        try:
            out.append((f"{title} ({plugin})", render(mesh)))
        except Exception as e:
            out.append((f"{title} ({plugin})", f"tile failed: {type(e).__name__}: {e}"))
    return out


def plugin_problems() -> list[str]:
    """Why plugins failed to load (never raises: a broken plugin never stops the extension)."""
    try:
        from .. import plugins

        return list(plugins.load().problems)
    except Exception as e:  # the plugin machinery itself: still never stop the extension
        return [f"plugins could not be loaded: {type(e).__name__}: {e}"]
