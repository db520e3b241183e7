"""``%mesh`` and ``%%mesh``: a thin shell that translates options into core calls.

No logic lives here beyond parsing, choosing a renderer, and moving values
between the user's namespace and the core (push, pull, the displayed result).
Usage mistakes raise :class:`~mesh_magics.errors.MeshUsageError`, which IPython
shows as one line; the core names parameters in its messages, and errors raised
through a magic are respelled with that magic's flags (:data:`CELL_FLAGS`,
:data:`LINE_FLAGS`). Nothing here can take the kernel down.
"""

from __future__ import annotations

import argparse
import functools
import shlex
from typing import Any, NoReturn

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display

from .. import config, session
from ..core.run import MeshRun
from ..errors import MeshError, MeshUsageError
from . import instruments
from .render import default_renderer

__all__ = ["CELL_FLAGS", "FOLLOW_FLAGS", "LINE_FLAGS", "MeshMagics", "load", "unload"]

#: how the core's parameter names read in ``%%mesh`` errors
CELL_FLAGS = {
    "on": "--on",
    "name": "--name",
    "push": "--push",
    "pull": "--pull",
    "resources": "--resources",
    "timeout": "--timeout",
    "retries": "--retries",
    "priority": "--priority",
    "cache": "--cache",
    "cache=True": "--cache",
}
#: how the core's parameter names read in ``%mesh`` errors
LINE_FLAGS = {
    "workers": "--workers",
    "threads": "--threads",
    "memory_limit": "--memory-limit",
    "kind='gpu'": "--gpu",
    "kind='cpu'": "`%mesh up --cpu`",
    "tls_ca": "--tls-ca",
    "tls_cert": "--tls-cert",
    "tls_key": "--tls-key",
    "timeout": "--timeout",
}
#: how ``runes.follow``'s parameter names read in ``%mesh follow`` errors
FOLLOW_FLAGS = {"min_share": "--min-share", "min_btc": "--min-btc", "interval": "--interval", "depth": "--depth",
                "start": "--start"}  # fmt: skip
#: calls of the Python API that a message may suggest, as their magics
COMMANDS = {
    "mesh_magics.up()": "`%mesh up`",
    "mesh_magics.connect()": "`%mesh connect ADDRESS`",
    "mesh.status()": "`%mesh status`",
    "mesh.down()": "`%mesh down`",
    "mesh.history": "`%mesh history`",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise MeshUsageError(f"{self.prog}: {message} (see `{self.prog} --help`)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise _HelpShown(message or "")


class _HelpShown(Exception):
    pass


@functools.cache  # built once: building it costs more than a direct cell's round trip to its worker
def _cell_parser() -> _Parser:
    p = _Parser(prog="%%mesh", add_help=True, description="Run this cell on the mesh's workers.")
    p.add_argument("--name", help="name of the run (history, dashboard)")
    p.add_argument(
        "--on",
        default="any",
        help="any (the session's worker), all (once per worker) or worker names/addresses, comma-separated",
    )
    p.add_argument("--resources", help="Dask worker resources, e.g. GPU=1")
    p.add_argument("--push", default="", help="names to send even if the worker has them, comma-separated")
    p.add_argument("--pull", default="", help="names to bring back into the notebook, comma-separated")
    p.add_argument("--noblock", action="store_true", help="return a MeshRun handle at once")
    p.add_argument("--timeout", type=float, help="cancel the run after S seconds")
    p.add_argument(
        "--retries", type=int, help="run again (elsewhere if needed) up to K times on failure or worker loss"
    )
    p.add_argument("--priority", type=int, default=0, help="Dask priority of the run's task(s)")
    p.add_argument(
        "--cache",
        action="store_true",
        help="reuse the result of an identical earlier run (%%mesh cache lists them)",
    )
    p.add_argument("-o", "--out", help="also store the MeshRun handle in this variable")
    return p


@functools.cache
def _map_parser() -> _Parser:
    p = _Parser(prog="%%mesh map", description="Run this cell once per item of ITEMS across the mesh.")
    p.add_argument(
        "items", nargs="+", metavar="ITEMS", help="an expression in the notebook: a list, range, ..."
    )
    p.add_argument(
        "--as", dest="as_name", default="item", help="the name the item is bound to (default: item)"
    )
    p.add_argument("--name", help="name of the batch (history)")
    p.add_argument("--resources", help="Dask worker resources each item needs, e.g. GPU=1")
    p.add_argument("--push", default="", help="names to send (those the cell reads are sent anyway)")
    p.add_argument("--pull", default="", help=argparse.SUPPRESS)  # refused with a message
    p.add_argument("--timeout", type=float, help="cancel the whole batch after S seconds")
    p.add_argument("--retries", type=int, help="run a failed item again up to K times")
    p.add_argument("--priority", type=int, default=0, help="Dask priority of the items' tasks")
    p.add_argument("--on", default="any", help="any or all (Dask places the items), or worker names")
    p.add_argument("--noblock", action="store_true", help="return the BatchRun handle at once")
    p.add_argument("--results", help="bind the values (in item order) to this variable when the batch ends")
    p.add_argument("-o", "--out", help="also store the BatchRun handle in this variable")
    return p


@functools.cache
def _line_parser() -> _Parser:
    p = _Parser(prog="%mesh", description="Start, join, inspect and leave the Dask mesh.")
    sub = p.add_subparsers(dest="cmd")
    u = sub.add_parser("up", help="start the embedded mesh (GPU workers when GPUs are visible)")
    u.add_argument("--workers", type=_at_least_one)
    u.add_argument("--threads", type=_at_least_one)
    u.add_argument("--memory-limit", type=_memory_limit)
    g = u.add_mutually_exclusive_group()
    g.add_argument("--cpu", action="store_const", const="cpu", dest="kind")
    g.add_argument("--gpu", action="store_const", const="gpu", dest="kind")
    c = sub.add_parser("connect", help="join an existing Dask cluster")
    c.add_argument("address", nargs="?")
    c.add_argument("--cluster", help="name of a Client or Cluster object in the notebook")
    c.add_argument("--tls-ca")
    c.add_argument("--tls-cert")
    c.add_argument("--tls-key")
    c.add_argument("--timeout", type=float, default=10)
    sub.add_parser("down", help="leave the mesh (and stop it if %%mesh up started it)")
    sub.add_parser("status", help="workers, threads, memory, GPUs, tasks, connection state")
    cf = sub.add_parser("config", help="show mesh.* settings, or set KEY=VALUE ...")
    cf.add_argument("assignments", nargs="*")
    h = sub.add_parser("history", help="past runs (all kernels), or --export FILE")
    h.add_argument("-n", type=int, help="how many runs (default 20 shown, all exported)")
    h.add_argument("--status")
    h.add_argument("--grep")
    h.add_argument("--user", help="only the runs this user submitted")
    h.add_argument("--export")
    h.add_argument("--force", action="store_true", help="with --export: replace an existing file")
    sub.add_parser("dashboard", help="a live node map with the runs in flight and their logs")
    k = sub.add_parser("cancel", help="cancel a run by id or name")
    k.add_argument("run")
    fo = sub.add_parser(
        "follow",
        help="follow a node's tip (DATADIR or REST URL): the Runes ledger kept current, whale alerts",
    )
    fo.add_argument(
        "source", nargs="?", help="a data directory, or http://host:port of a node's REST interface"
    )
    fo.add_argument("--network", default="mainnet")
    fo.add_argument(
        "--min-share", type=_off_or(float), default=0.01, help="alert on sends of this share of supply (off)"
    )
    fo.add_argument(
        "--min-btc", type=_off_or(str), default="100", help="alert on transactions of this many BTC (off)"
    )
    fo.add_argument("--depth", type=int, default=6, help="how many of the newest blocks a reorg may rewrite")
    fo.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    fo.add_argument(
        "--start", type=int, help="the first block to index (default: the network's first rune block)"
    )
    fo.add_argument("--name", help="name of the session's history row")
    fo.add_argument("--stop", action="store_true", help="stop this kernel's follow")
    fo.add_argument("-o", "--out", help="also store the session in this variable")
    instruments.add_parsers(sub)
    return p


def _off_or(kind: Any) -> Any:
    """An argparse type: ``off`` (None: the rule is off), else ``kind(text)``."""

    def parse(text: str) -> Any:
        if text.lower() in ("off", "none"):
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number (or off)") from None

    return parse


def _at_least_one(text: str) -> int:
    """An argparse type: an integer >= 1 (checked when given, whether a mesh is up or not)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def _memory_limit(text: str) -> str:
    if not config.valid("cluster.memory-limit", text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a memory size (4GiB, 500MB, a number of bytes, auto)"
        )
    return text


def _names(text: str) -> list[str]:
    out = [n.strip() for n in text.split(",") if n.strip()]
    for n in out:
        if not n.isidentifier():
            raise MeshUsageError(f"{n!r} is not a variable name; give names separated by commas")
    return out


@magics_class
class MeshMagics(Magics):
    @property
    def user_ns(self) -> dict[str, Any]:
        """The notebook's namespace."""
        assert self.shell is not None, "the magics are registered on a shell"
        return self.shell.user_ns

    @line_cell_magic
    def mesh(self, line: str, cell: str | None = None) -> Any:
        """``%mesh up|connect|down|status|config|history|cancel`` and ``%%mesh [options]``."""
        try:
            args = shlex.split(line)
        except ValueError as e:
            raise MeshUsageError(f"cannot parse the options {line!r}: {e}") from None
        try:
            if cell is None:
                parsed = _line_parser().parse_args(args)
                parsed.line = line
                return self._line(parsed)
            if args and args[0] == "map":
                from .batch import map_cell

                return map_cell(self.user_ns, _map_parser().parse_args(args[1:]), cell)
            return self._cell(_cell_parser().parse_args(args), cell)
        except _HelpShown as h:
            parser = (
                _line_parser() if cell is None else _map_parser() if args[:1] == ["map"] else _cell_parser()
            )
            print(str(h) or parser.format_help())
            return None
        except MeshError as e:
            e.respell({**(LINE_FLAGS | FOLLOW_FLAGS if cell is None else CELL_FLAGS), **COMMANDS})
            raise

    # -- %mesh -------------------------------------------------------------------
    def _line(self, a: argparse.Namespace) -> Any:
        if a.cmd is None:
            print(_line_parser().format_help())
            return None
        if a.cmd == "up":
            already = session.live() is not None
            m = session.up(workers=a.workers, threads=a.threads, memory_limit=a.memory_limit, kind=a.kind)
            if already:
                print(f"already on mesh {m.address} ({m.kind}); `%mesh down` first to start another")
            self._show_mesh(m)
        elif a.cmd == "connect":
            if (a.address is None) == (a.cluster is None):
                raise MeshUsageError("give either ADDRESS or --cluster NAME to `%mesh connect`")
            target: Any = a.address
            if a.cluster is not None:
                if a.cluster not in self.user_ns:
                    raise MeshUsageError(f"--cluster {a.cluster}: no such variable in the notebook")
                target = self.user_ns[a.cluster]
            m = session.connect(
                target, tls_ca=a.tls_ca, tls_cert=a.tls_cert, tls_key=a.tls_key, timeout=a.timeout
            )
            self._show_mesh(m)
        elif a.cmd == "down":
            mesh = session.live()
            if mesh is None:
                print("no mesh to take down")
            else:
                mesh.down()
                print(f"mesh {mesh.address} is down")
        elif a.cmd == "status":
            display(session.current().status())
        elif a.cmd == "config":
            self._config(a.assignments)
        elif a.cmd == "history":
            return self._history(a)
        elif a.cmd == "dashboard":
            from ..dashboard.standalone import MeshWatch

            watch = MeshWatch(session.current()).start()
            display(watch.widget)
            for title, tile in instruments.tiles(session.current()):
                print(title)
                display(tile)
        elif a.cmd == "cache":
            return instruments.cache(a, session.current())
        elif a.cmd == "audit":
            return instruments.audit(a, session.live())
        elif a.cmd == "template":
            return instruments.template(
                a,
                self.shell,
                lambda line, code: self._cell(_cell_parser().parse_args(shlex.split(line)), code),
            )
        elif a.cmd == "follow":
            self._follow(a)
        elif a.cmd == "cancel":
            run = session.current().get_run(a.run)
            print(f"cancelled {run.name}" if run.cancel() else f"{run.name} already {run.status}")
        return None

    def _follow(self, a: argparse.Namespace) -> None:
        from . import follow

        if a.out is not None and not a.out.isidentifier():
            raise MeshUsageError(f"-o {a.out!r} is not a variable name; give a name to store the session in")
        if a.stop:
            stopped = follow.stop()
            if stopped is None:
                print("no follow is running")
            else:
                f = stopped.follow
                print(
                    f"stopped following {f.source.name} at block {f.height}: {f.n_alerts} alert(s), {f.reorgs} reorg(s)"
                )
            return
        if a.source is None:
            running = follow.current()
            if running is None:
                print("no follow is running; `%mesh follow DATADIR|URL --network NET` starts one")
            else:
                display(running.widget)
            return
        started = follow.start(session.current(), a.source, network=a.network,
                               alerts={"min_share": a.min_share, "min_btc": a.min_btc}, depth=a.depth,
                               interval=a.interval, start=a.start, name=a.name, line=a.line)  # fmt: skip
        if a.out:
            self.user_ns[a.out] = started
        display(started.widget)

    def _show_mesh(self, m: Any) -> None:
        for w in m.warnings:
            print(f"warning: {w}")
        display(m.status())

    def _config(self, assignments: list[str]) -> None:
        if not assignments:
            for k, v in config.flat().items():
                print(f"mesh.{k} = {v!r}")
            return
        for item in assignments:
            key, sep, value = item.partition("=")
            if not sep:
                name = config.known(key)
                print(f"mesh.{name} = {config.get(name)!r}")
                continue
            v = config.set_value(key, value)
            print(f"mesh.{key.removeprefix('mesh.')} = {v!r}")

    def _history(self, a: argparse.Namespace) -> Any:
        from ..store.history import History

        if a.n is not None and a.n < 1:
            raise MeshUsageError(f"-n {a.n}: give a positive number of runs (-n 20 shows the last 20)")
        mesh = session.live()
        h = (mesh.history if mesh is not None else None) or History()
        status = a.status.split(",") if a.status else None
        if a.export:
            n = h.export(a.export, status=status, grep=a.grep, n=a.n, overwrite=a.force, user=a.user)
            print(f"exported {n} run(s) to {a.export}")
            return None
        frame = h.to_frame(n=a.n or 20, status=status, grep=a.grep, user=a.user)
        if frame.empty:
            print("no runs recorded" + (" match" if (a.status or a.grep or a.user) else ""))
            return None
        return _history_view(frame)

    # -- %%mesh ------------------------------------------------------------------
    def _cell(self, a: argparse.Namespace, cell: str) -> Any:
        if a.out is not None and not a.out.isidentifier():
            raise MeshUsageError(f"-o {a.out!r} is not a variable name; give a name to store the run in")
        mesh = session.current()
        on: Any = a.on
        if on not in ("any", "all"):
            on = [s for s in on.split(",") if s.strip()]
        run = mesh.submit(
            cell,
            on=on,
            name=a.name,
            push=_names(a.push),
            pull=_names(a.pull),
            user_ns=self.user_ns,
            resources=a.resources,
            timeout=a.timeout,
            retries=a.retries,
            priority=a.priority,
            renderer=default_renderer(),
            cache=a.cache,
        )
        if a.out:
            self.user_ns[a.out] = run  # a.out was checked to be an identifier
        run.add_done_callback(self._apply_pull)
        if a.noblock:
            run.pump_in_background()
            return run
        run.wait_or_cancel()
        return _display_value(run)

    def _apply_pull(self, run: Any) -> None:
        self.user_ns.update(run.pull_values)


def _display_value(run: MeshRun) -> Any:
    """The cell's Out: the run's value, or nothing when every worker's value is None."""
    value = run.result()
    if run.spec.fan_out and not any(v is not None for v in value.values()):
        return None
    return value


def _history_view(frame: Any) -> Any:
    """The columns a person scans, local time, one line of source."""
    view = frame[["id", "name", "status", "submitted", "finished", "targets", "source"]].copy()
    if "cached_from" in frame:  # a run served from the result cache names the run it replays
        view["status"] = [
            f"{s} (cached: {c[:8]})" if isinstance(c, str) else s
            for s, c in zip(view["status"], frame["cached_from"])
        ]
    view["id"] = view["id"].str[:8]
    view["duration_s"] = (view["finished"] - view["submitted"]).dt.total_seconds().round(3)
    view["submitted"] = view["submitted"].dt.tz_convert(None).dt.strftime("%Y-%m-%d %H:%M:%S")
    view["targets"] = [len(t) if isinstance(t, list) else t for t in view["targets"]]
    view["source"] = [s.strip().splitlines()[0][:60] if s and s.strip() else "" for s in view["source"]]
    return view.drop(columns=["finished"]).set_index("id")


def load(ipython: Any) -> None:
    ipython.register_magics(MeshMagics)
    for problem in instruments.plugin_problems():  # a broken plugin never stops the extension
        print(f"warning: {problem}")


def unload(ipython: Any) -> None:
    from . import follow

    follow.stop()
    mesh = session.live()
    if mesh is not None:
        mesh.down()
