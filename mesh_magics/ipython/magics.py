"""``%mesh`` and ``%%mesh``: a thin shell that translates options into core calls.

No logic lives here beyond parsing, choosing a renderer, and moving values
between the user's namespace and the core (push, pull, the displayed result); the
option parsers are :mod:`.parsers`.
Usage mistakes raise :class:`~mesh_magics.errors.MeshUsageError`, which IPython
shows as one line; the core names parameters in its messages, and errors raised
through a magic are respelled with that magic's flags (:data:`CELL_FLAGS`,
:data:`LINE_FLAGS`). Nothing here can take the kernel down.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display

from .. import config, session
from ..core.run import MeshRun
from ..errors import MeshError, MeshUsageError
from . import instruments
from .parsers import HelpShown, cell_parser, line_parser, map_parser, variable_names
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
                parsed = line_parser().parse_args(args)
                parsed.line = line
                return self._line(parsed)
            if args and args[0] == "map":
                from .batch import map_cell

                return map_cell(self.user_ns, map_parser().parse_args(args[1:]), cell)
            return self._cell(cell_parser().parse_args(args), cell)
        except HelpShown as h:
            parser = line_parser() if cell is None else map_parser() if args[:1] == ["map"] else cell_parser()
            print(str(h) or parser.format_help())
            return None
        except MeshError as e:
            e.respell({**(LINE_FLAGS | FOLLOW_FLAGS if cell is None else CELL_FLAGS), **COMMANDS})
            raise

    # -- %mesh -------------------------------------------------------------------
    def _line(self, a: argparse.Namespace) -> Any:
        if a.cmd is None:
            print(line_parser().format_help())
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
                lambda line, code: self._cell(cell_parser().parse_args(shlex.split(line)), code),
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
            push=variable_names(a.push),
            pull=variable_names(a.pull),
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
