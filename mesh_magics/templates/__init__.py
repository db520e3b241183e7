"""Run templates: parameterised, documented ``%%mesh`` cells kept as plain files.

A template is a Python file (or a notebook, ``.ipynb``) a team can share. A ``.py``
template opens with a comment header, then the cell's code::

    # mesh-template: whales
    # summary: the Runes whale suite on a transfers table
    # magic: --name whales
    # param table: "synthetic" | a canonical transfers Parquet path, or "synthetic"
    # param top: 10 | how many holders per rune
    #
    # Any other comment lines of the header are the template's documentation.
    from mesh_magics import runes
    ...

Each ``param NAME: DEFAULT | HELP`` becomes a variable of the cell: rendering puts
``NAME = value`` lines (``repr`` of the value, never text pasted into code) before the
body, so a value cannot inject code. ``DEFAULT`` is a Python literal; its type is the
parameter's (``10`` an int, ``"x"`` text, ``None`` any literal). ``magic`` is the
``%%mesh`` line's options (default ``--name <template>``); ``magic: local`` makes a plain
notebook cell. A ``.ipynb`` template keeps the same keys in its metadata under
``mesh_template`` (``name``, ``summary``, ``magic``, ``params``: ``{NAME: {"default",
"help"}}``) and its code cells are the body.

Where templates come from (:func:`catalog`), later ones shadowing none of the earlier:
the built-in ones (``whales``, ``index``, ``decode`` in ``builtin/``), the directories
of ``mesh.templates.path`` (separated by ``os.pathsep``), then plugins
(:mod:`mesh_magics.plugins`). A file that does not parse is reported in
:attr:`Catalog.problems` and leaves the others usable.

Import rule (``tests/test_layers.py``): the standard library, ``config``, ``errors``,
``plugins``; :func:`run` imports the session when called.
"""

from __future__ import annotations

import ast
import difflib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import config
from ..errors import TemplateError

if TYPE_CHECKING:  # pragma: no cover
    from ..core.mesh import Mesh
    from ..core.run import MeshRun

__all__ = ["BUILTIN_DIR", "Catalog", "Param", "Template", "catalog", "get", "load", "run"]

#: the directory of the templates that ship with mesh-magics
BUILTIN_DIR = Path(__file__).with_name("builtin")
_FIX = "`%mesh template` lists the templates; add one as a .py file in a directory of mesh.templates.path"


@dataclass(frozen=True)
class Param:
    """One parameter: ``name``, its ``default`` (a Python literal) and ``help``."""

    name: str
    default: Any = None
    help: str = ""

    def parse(self, text: str) -> Any:
        """A command-line value (``top=5``) as this parameter's type."""
        kind = type(self.default)
        if isinstance(self.default, str):
            return text
        if isinstance(self.default, bool):
            if text.lower() in ("true", "yes", "1", "on"):
                return True
            if text.lower() in ("false", "no", "0", "off"):
                return False
            raise TemplateError(f"{self.name}={text!r}: give true or false")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            if self.default is None or isinstance(self.default, (list, tuple, dict)):
                return text  # a path, or text, where a literal could also go
            raise TemplateError(f"{self.name}={text!r} is not {_kind(self.default)}") from None
        return self.check(value) if kind is not type(None) else value

    def check(self, value: Any) -> Any:
        """``value`` if it fits the default's type (an int for a float is fine)."""
        d = self.default
        if d is None or value is None or isinstance(value, type(d)):
            return value
        if isinstance(d, (list, tuple, dict)) and isinstance(value, (str, os.PathLike)):
            return os.fspath(value)  # a file holding the items
        if isinstance(d, float) and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        raise TemplateError(f"{self.name}={value!r} is not {_kind(d)} (the default is {d!r})")


def _kind(value: Any) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "text", list: "a list",
            dict: "a dict", tuple: "a tuple"}.get(type(value), type(value).__name__)  # fmt: skip


@dataclass(frozen=True)
class Template:
    """A template: see the module docstring. ``origin`` says where it came from
    (``builtin``, a directory, or ``plugin <name>``)."""

    name: str
    summary: str
    body: str
    params: tuple[Param, ...] = ()
    doc: str = ""
    magic: str | None = None
    path: str | None = None
    origin: str = "builtin"

    def values(self, args: Sequence[str] | Mapping[str, Any] = ()) -> dict[str, Any]:
        """Every parameter's value: the defaults, overridden by ``args`` (``["top=5"]`` as on the
        command line, or a mapping of Python values)."""
        known = {p.name: p for p in self.params}
        out = {p.name: p.default for p in self.params}
        items: Iterable[tuple[str, Any]]
        if isinstance(args, Mapping):
            items = args.items()
        else:
            pairs = []
            for arg in args:
                key, sep, text = arg.partition("=")
                if not sep:
                    raise TemplateError(f"template {self.name}: {arg!r} is not NAME=VALUE; {self._usage()}")
                pairs.append((key.strip(), text))
            items = pairs
        for key, raw in items:
            if key not in known:
                close = difflib.get_close_matches(key, list(known), n=1)
                hint = f" Did you mean {close[0]}?" if close else ""
                raise TemplateError(f"template {self.name} has no parameter {key!r}.{hint} {self._usage()}")
            p = known[key]
            out[key] = (
                p.parse(raw) if isinstance(raw, str) and not isinstance(args, Mapping) else p.check(raw)
            )
        return out

    def _usage(self) -> str:
        names = " ".join(f"{p.name}=…" for p in self.params) or "(no parameters)"
        return f"Usage: `%mesh template {self.name} {names}`"

    def code(self, args: Sequence[str] | Mapping[str, Any] = ()) -> str:
        """The cell's Python code: one assignment per parameter, then the body."""
        lines = [f"# template {self.name}: {self.summary}"]
        lines += [f"{k} = {v!r}" for k, v in self.values(args).items()]
        return "\n".join(lines) + "\n" + self.body.strip("\n") + "\n"

    def render(self, args: Sequence[str] | Mapping[str, Any] = ()) -> str:
        """The notebook cell: the ``%%mesh`` line (unless ``magic: local``) and :meth:`code`."""
        code = self.code(args)
        if self.magic == "local":
            return code
        return (
            f"%%mesh {self.magic if self.magic is not None else '--name ' + self.name}".rstrip() + "\n" + code
        )

    def describe(self) -> str:
        """The template as ``%mesh template NAME --help`` shows it."""
        out = [
            f"{self.name}: {self.summary}",
            f"  from {self.origin}" + (f" ({self.path})" if self.path else ""),
        ]
        if self.doc:
            out += ["", *(f"  {line}" for line in self.doc.splitlines())]
        out += ["", "parameters:" if self.params else "no parameters"]
        out += [f"  {p.name} = {p.default!r}  {p.help}".rstrip() for p in self.params]
        out += ["", self._usage().removeprefix("Usage: ") + "   (--run to run it at once)"]
        return "\n".join(out)


def _literal(text: str, where: str) -> Any:
    try:
        return ast.literal_eval(text.strip()) if text.strip() else None
    except (ValueError, SyntaxError):
        raise TemplateError(
            f'{where}: default {text.strip()!r} is not a Python literal (quote text: "x")'
        ) from None


def _from_py(path: Path, text: str, origin: str) -> Template:
    meta: dict[str, str] = {}
    params: list[Param] = []
    doc: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines) and lines[i].startswith("#"):
        line = lines[i].lstrip("#")[1:] if lines[i].startswith("# ") else lines[i].lstrip("#")
        key, sep, rest = line.partition(":")
        where = f"{path}:{i + 1}"
        if sep and key.startswith("param "):
            name = key.removeprefix("param ").strip()
            if not name.isidentifier():
                raise TemplateError(f"{where}: parameter name {name!r} is not an identifier")
            default, _, help_ = rest.partition("|")
            params.append(Param(name, _literal(default, where), help_.strip()))
        elif sep and key.strip() in ("mesh-template", "summary", "magic"):
            meta[key.strip()] = rest.strip()
        else:
            doc.append(line)
        i += 1
    if "mesh-template" not in meta:
        raise TemplateError(
            f"{path}: a template opens with a `# mesh-template: NAME` line (see `%mesh template`)"
        )
    body = "\n".join(lines[i:])
    try:
        compile(body, str(path), "exec")
    except SyntaxError as e:
        raise TemplateError(
            f"{path}:{i + (e.lineno or 1)}: the template's code does not parse: {e.msg}"
        ) from None
    return Template(meta["mesh-template"], meta.get("summary", ""), body, tuple(params), "\n".join(doc).strip(),
                    meta.get("magic"), str(path), origin)  # fmt: skip


def _from_ipynb(path: Path, text: str, origin: str) -> Template:
    try:
        nb = json.loads(text)
        meta = nb["metadata"]["mesh_template"]
        cells = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                 for c in nb["cells"] if c.get("cell_type") == "code"]  # fmt: skip
        params = tuple(Param(str(k), (v or {}).get("default"), str((v or {}).get("help", "")))
                       for k, v in (meta.get("params") or {}).items())  # fmt: skip
        return Template(str(meta["name"]), str(meta.get("summary", "")), "\n\n".join(cells), params,
                        str(meta.get("doc", "")), meta.get("magic"), str(path), origin)  # fmt: skip
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise TemplateError(
            f"{path}: not a notebook template ({type(e).__name__}: {e}); it needs metadata.mesh_template.name"
        ) from None


def load(path: str | os.PathLike[str], origin: str | None = None) -> Template:
    """The template in ``path`` (``.py`` or ``.ipynb``); TemplateError naming the file and line."""
    p = Path(os.fspath(path)).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TemplateError(f"cannot read the template {p}: {e}") from None
    origin = origin or str(p.parent)
    return _from_ipynb(p, text, origin) if p.suffix == ".ipynb" else _from_py(p, text, origin)


@dataclass
class Catalog:
    """The templates by name, and ``problems``: one line per file or plugin that failed."""

    templates: dict[str, Template] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add(self, template: Template) -> None:
        if template.name in self.templates:
            first = self.templates[template.name]
            self.problems.append(f"template {template.name} of {template.origin} ignored: {first.origin} has one of that name")  # fmt: skip
            return
        self.templates[template.name] = template

    def add_directory(self, directory: Path, origin: str | None = None) -> None:
        if not directory.is_dir():
            self.problems.append(f"template directory {directory} does not exist (mesh.templates.path)")
            return
        for p in sorted([*directory.glob("*.py"), *directory.glob("*.ipynb")]):
            if p.name.startswith(("_", ".")):
                continue
            try:
                self.add(load(p, origin or str(directory)))
            except TemplateError as e:
                self.problems.append(str(e))

    def get(self, name: str) -> Template:
        """The template ``name``; TemplateError with the close names and the fix."""
        if name in self.templates:
            return self.templates[name]
        close = difflib.get_close_matches(name, list(self.templates), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise TemplateError(f"unknown template {name!r}.{hint} {_FIX}")


def catalog(plugins: bool = True) -> Catalog:
    """Every template: built-in, ``mesh.templates.path``, then those plugins register."""
    cat = Catalog()
    cat.add_directory(BUILTIN_DIR, "builtin")
    for entry in str(config.get("templates.path") or "").split(os.pathsep):
        if entry.strip():
            cat.add_directory(Path(os.path.expanduser(entry.strip())))
    if plugins:
        from .. import plugins as _plugins

        loaded = _plugins.load()
        for plugin_name, template in loaded.templates:
            try:
                cat.add(
                    template if isinstance(template, Template) else load(template, f"plugin {plugin_name}")
                )
            except TemplateError as e:
                cat.problems.append(f"plugin {plugin_name}: {e}")
    return cat


def get(name: str) -> Template:
    """The template ``name`` of :func:`catalog`."""
    return catalog().get(name)


def run(name: str, mesh: Mesh | None = None, *, block: bool = True, **params: Any) -> MeshRun:
    """Run template ``name`` with ``params`` on ``mesh`` (default: this session's) as a run
    named after it; the ``%%mesh`` options of its header apply in notebooks only."""
    template = get(name)
    code = template.code(params)
    if mesh is None:
        from .. import session

        mesh = session.current()
    return mesh.run(code, name=f"template-{template.name}", block=block)
