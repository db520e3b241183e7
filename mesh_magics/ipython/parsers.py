"""The option parsers of ``%mesh`` and ``%%mesh``, for :mod:`.magics`.

One argparse parser per form, each built once (:func:`cell_parser` for ``%%mesh``,
:func:`map_parser` for ``%%mesh map ITEMS``, :func:`line_parser` for ``%mesh`` and its
sub-commands, those of :mod:`.instruments` included), and the argparse types of their
options. A parse error is a :class:`~mesh_magics.errors.MeshUsageError` naming the
command and its ``--help``; ``--help`` itself raises :class:`HelpShown`, which the magic
turns into the help text.
"""

from __future__ import annotations

import argparse
import functools
from typing import Any, NoReturn

from .. import config
from ..errors import MeshUsageError
from . import instruments

__all__ = ["HelpShown", "Parser", "cell_parser", "line_parser", "map_parser", "variable_names"]


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise MeshUsageError(f"{self.prog}: {message} (see `{self.prog} --help`)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise HelpShown(message or "")


class HelpShown(Exception):
    pass


@functools.cache  # built once: building it costs more than a direct cell's round trip to its worker
def cell_parser() -> Parser:
    p = Parser(prog="%%mesh", add_help=True, description="Run this cell on the mesh's workers.")
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
def map_parser() -> Parser:
    p = Parser(prog="%%mesh map", description="Run this cell once per item of ITEMS across the mesh.")
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
def line_parser() -> Parser:
    p = Parser(prog="%mesh", description="Start, join, inspect and leave the Dask mesh.")
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


def variable_names(text: str) -> list[str]:
    out = [n.strip() for n in text.split(",") if n.strip()]
    for n in out:
        if not n.isidentifier():
            raise MeshUsageError(f"{n!r} is not a variable name; give names separated by commas")
    return out
