"""What ships: the runtime package and each staged function carry no development tooling.

The development harness (``devstack``) and the tests stay in the source checkout;
``sessionctl`` reaches for the harness only in ``local`` and ``demo``, and says in
one line what is missing when it is not there.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from setuptools import find_packages

from sessionctl import stage

REPO = Path(__file__).resolve().parents[2]
DEVELOPMENT = {"devstack", "tests", "pytest", "hypothesis", "sessionctl"}


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.partition(".")[0])
    return names


def test_the_runtime_package_holds_the_pipeline_and_the_operator_cli_only() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    find = config["tool"]["setuptools"]["packages"]["find"]
    packages = find_packages(where=REPO, include=find["include"], exclude=find.get("exclude", ()))
    assert packages, "the runtime package is not empty"
    assert {p.partition(".")[0] for p in packages} == {"shared", "sessionctl"}


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return stage.stage_functions(tmp_path_factory.mktemp("functions"), zip_archives=False)


def test_a_staged_function_is_its_entry_point_the_shared_package_and_requirements(
    staged: list[Path],
) -> None:
    for function in staged:
        assert {p.name for p in function.iterdir()} == {"main.py", "requirements.txt", "shared"}


def test_nothing_a_staged_function_runs_imports_development_tooling(staged: list[Path]) -> None:
    for function in staged:
        for source in sorted(function.rglob("*.py")):
            used = _top_level_imports(source) & DEVELOPMENT
            assert not used, f"{source.relative_to(function)} imports {sorted(used)}"


def test_sessionctl_without_the_harness_keeps_its_operator_commands_and_names_what_is_missing(
    tmp_path: Path,
) -> None:
    blocked = "import sys; sys.modules['devstack'] = None; from sessionctl.cli import main; "
    offline = subprocess.run(
        [sys.executable, "-c", blocked + "sys.exit(main(['schema', '--out', sys.argv[1]]))"]
        + [str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert offline.returncode == 0, offline.stderr
    local = subprocess.run(
        [sys.executable, "-c", blocked + "sys.exit(main(['local', 'down']))"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert local.returncode == 1
    [line] = local.stderr.splitlines()
    assert "devstack" in line and "make setup" in line
