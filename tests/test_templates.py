"""Run templates: files parsed, parameters typed, cells rendered, and the built-in ones run for
real on the session's LocalCluster (scheduler and worker processes)."""

from __future__ import annotations

import json

import dask
import pandas as pd
import pytest

import mesh_magics
from mesh_magics import templates
from mesh_magics.errors import MeshConfigError, TemplateError

REPORT = """\
# mesh-template: report
# summary: a team's report
# magic: --on all --name report
# param title: "weekly" | the report's title
# param limit: 5 | rows
# param ratio: 0.5 | a share
# param dry: false | do nothing
#
# Documentation of the report,
# on two lines.
print(title, limit, ratio, dry)
"""


@pytest.fixture()
def team_dir(tmp_path):
    d = tmp_path / "team"
    d.mkdir()
    (d / "report.py").write_text(REPORT.replace("false", "False"))
    (d / "broken.py").write_text("# mesh-template: broken\n# param x: not a literal | oops\nx\n")
    (d / "nocode.py").write_text("# mesh-template: nocode\nfor\n")
    (d / "_private.py").write_text("not a template at all")
    nb = {
        "metadata": {"mesh_template": {"name": "nbtpl", "summary": "from a notebook", "magic": "local",
                                       "params": {"k": {"default": 3, "help": "a number"}}}},
        "cells": [{"cell_type": "markdown", "source": "# doc"},
                  {"cell_type": "code", "source": ["y = k * 2\n"]}, {"cell_type": "code", "source": "y + 1"}],
    }  # fmt: skip
    (d / "nb.ipynb").write_text(json.dumps(nb))
    with dask.config.set({"mesh.templates.path": str(d)}):
        yield d


def test_builtins_are_listed_with_their_parameters():
    cat = templates.catalog()
    assert {"whales", "index", "decode"} <= set(cat.templates)
    assert not [p for p in cat.problems if "builtin" in p]
    whales = cat.get("whales")
    assert [p.name for p in whales.params] == ["table", "runes_table", "rows", "top", "min_share", "loader"]
    assert whales.origin == "builtin" and "top_holders" in whales.body and whales.doc
    text = whales.describe()
    assert "table = 'synthetic'" in text and "%mesh template whales" in text


def test_a_team_directory_is_read_and_broken_files_reported(team_dir):
    cat = templates.catalog()
    report = cat.get("report")
    assert report.origin == str(team_dir) and report.doc.startswith("Documentation of the report")
    assert [(p.name, p.default) for p in report.params] == [("title", "weekly"), ("limit", 5), ("ratio", 0.5), ("dry", False)]  # fmt: skip
    assert cat.get("nbtpl").body == "y = k * 2\n\n\ny + 1"
    problems = "\n".join(cat.problems)
    assert "broken.py:2" in problems and "not a Python literal" in problems
    assert "nocode.py" in problems and "does not parse" in problems
    assert "_private" not in problems and "broken" not in cat.templates


def test_render_types_values_and_never_pastes_text_into_code(team_dir):
    report = templates.get("report")
    cell = report.render(["limit=7", "ratio=2", "dry=yes", "title=x'); import os; os.system('boom"])
    lines = cell.splitlines()
    assert lines[0] == "%%mesh --on all --name report"
    assert "limit = 7" in lines and "ratio = 2.0" in lines and "dry = True" in lines
    assert "title = \"x'); import os; os.system('boom\"" in lines  # one string literal, nothing run
    ns: dict = {}
    exec(report.code({"title": "t", "limit": 1}), ns)
    assert ns["title"] == "t" and ns["limit"] == 1
    assert templates.get("nbtpl").render().startswith("# template nbtpl")  # magic: local, no %%mesh


@pytest.mark.parametrize(
    "args, message",
    [
        (["limit=many"], "limit='many' is not an integer"),
        (["dry=maybe"], "give true or false"),
        (["limits=3"], "no parameter 'limits'. Did you mean limit?"),
        (["limit"], "is not NAME=VALUE"),
    ],
)
def test_bad_arguments_name_the_fix(team_dir, args, message):
    with pytest.raises(TemplateError, match="Usage|true or false|integer") as info:
        templates.get("report").render(args)
    assert message in str(info.value)
    assert isinstance(info.value, MeshConfigError)  # shown as one red line, like a bad option


def test_an_unknown_template_names_the_close_ones_and_the_fix():
    with pytest.raises(TemplateError) as info:
        templates.get("whale")
    text = str(info.value)
    assert "unknown template 'whale'" in text and "Did you mean whales" in text
    assert "%mesh template" in text and "mesh.templates.path" in text
    with pytest.raises(TemplateError, match="no parameter"):
        templates.get("whales").code({"tabel": "x"})


def test_builtin_templates_run_on_real_workers(dask_cluster, tmp_path):
    with dask.config.set({"mesh.history.path": str(tmp_path / "h.sqlite3"), "mesh.audit.path": str(tmp_path / "a.sqlite3")}):  # fmt: skip
        mesh = mesh_magics.connect(dask_cluster)
        try:
            scripts = tmp_path / "scripts.txt"
            scripts.write_text("6a5d050001010200\n\n" + "0014" + "00" * 20 + "\n6a5d0114\n")
            run = templates.run("decode", mesh, scripts=str(scripts), chunk=2)
            table = run.result()
            assert isinstance(table, pd.DataFrame) and list(table["kind"]) == [
                "runestone",
                "none",
                "cenotaph",
            ]
            assert json.loads(table["message"][0])["edicts"] == [{"id": "1:1", "amount": "2", "output": 0}]
            assert run.name == "template-decode" and "'runestone': 1" in run.stdout

            suite = templates.run("whales", mesh, rows=3000, top=3).result()
            assert set(suite) == {"top_holders", "concentration", "daily_activity", "whale_transfers"}
            assert (suite["top_holders"].groupby("rune_id").size() <= 3).all()
            assert len(suite["concentration"]) == 20
        finally:
            mesh.down()


def test_the_index_template_compiles_with_its_parameters():
    code = templates.get("index").code({"tables": "/data/t", "network": "regtest", "save": "/data/s"})
    compile(code, "index", "exec")
    assert "network = 'regtest'" in code and "tables = '/data/t'" in code
