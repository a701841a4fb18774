"""The package's floors (pyproject ``[tool.importlinter]``): the contracts hold, a planted upward or
sideways import breaks them with a readable chain, every module sits on one floor, the import graph
has no cycle, and no function-level ``litstyle`` import hides one."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

from conftest import REPO

PACKAGE = REPO / "litstyle"
LINT = str(Path(sys.executable).with_name("lint-imports"))
CONTRACTS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def lint(package_parent: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with the project's contracts on the ``litstyle`` found in ``package_parent``."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run([LINT, "--config", str(REPO / "pyproject.toml"), "--no-cache", "--no-logo"],
                          cwd=package_parent, env=env, capture_output=True, text=True, timeout=300)


def planted(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of the package whose ``module`` (a path under litstyle/) also runs ``line``."""
    copy = tmp_path / "src"
    shutil.copytree(PACKAGE, copy / "litstyle", ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / "litstyle" / module
    target.write_text(target.read_text() + f"\n{line}\n")
    return copy


def test_contracts_hold() -> None:
    done = lint(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(("module", "line", "expected"), [
    # the bottom floor reaching for the stage registry
    ("text.py", "import litstyle.stages", "litstyle.text -> litstyle.stages"),
    # a building block reaching up to a stage family
    ("rewards.py", "from litstyle.grpo import train", "litstyle.rewards -> litstyle.grpo.train"),
    # a stage family reaching into a sibling's internals
    ("eval/stage.py", "from litstyle.sft.stage import build_sft_data", "litstyle.eval.stage -> litstyle.sft.stage"),
])
def test_a_planted_import_breaks_the_build(tmp_path: Path, module: str, line: str, expected: str) -> None:
    done = lint(planted(tmp_path, module, line))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BROKEN" in done.stdout and expected in done.stdout


def graph() -> grimp.ImportGraph:
    return grimp.build_graph("litstyle", cache_dir=None)


def test_every_module_sits_on_one_floor() -> None:
    floors = [[name.strip() for name in layer.split("|")] for layer in CONTRACTS[0]["layers"]]
    modules = graph().modules
    for module in sorted(modules):
        homes = [i for i, floor in enumerate(floors) for name in floor
                 if module == name or module.startswith(name + ".")]
        if not homes:  # only package markers stay off the floors: __init__ files that import nothing of ours
            imported = {m for m in graph().find_modules_directly_imported_by(module) if m.startswith("litstyle")}
            assert module.count(".") <= 1 and not imported, f"{module} is on no floor of [tool.importlinter]"
        else:
            assert len(homes) == 1, f"{module} sits on floors {homes}"


def test_the_import_graph_has_no_cycle() -> None:
    g = graph()
    for importer in sorted(g.modules):
        for imported in sorted(g.find_modules_directly_imported_by(importer)):
            if imported in g.modules and imported != importer:
                assert not g.chain_exists(importer=imported, imported=importer), \
                    f"cycle: {importer} -> {imported} -> ... -> {importer}: {g.find_shortest_chain(imported, importer)}"


def test_no_function_level_import_of_the_package() -> None:
    """Modules of litstyle import each other at the top: an import inside a function would only dodge a
    circle.  (Heavy third-party libraries, torch or vllm, are imported inside functions on purpose.)"""
    late = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    names = ([inner.module or ""] if isinstance(inner, ast.ImportFrom) else
                             [a.name for a in inner.names] if isinstance(inner, ast.Import) else [])
                    if any(n == "litstyle" or n.startswith("litstyle.") for n in names):
                        late.append(f"{path.relative_to(REPO)}:{inner.lineno}")
    assert not late, f"function-level litstyle imports: {late}"
