"""``shared/domain`` stays pure: no I/O, no command line, no cycle between its modules.

The domain is what the cloud functions, ``sessionctl replay`` and the tests share; it
takes the clock, the zone and the settings as arguments. Reading the imports of its
source (not importing it) keeps this check independent of what happens to be loaded.
"""

from __future__ import annotations

import ast
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[3] / "shared" / "domain"
# Modules that do I/O, read the environment or parse a command line.
IMPURE = {"argparse", "click", "os", "pathlib", "sys", "logging", "subprocess", "socket", "io"}
OUTSIDE = ("shared.adapters", "shared.service", "shared.bootstrap", "shared.config", "sessionctl")


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


MODULES = {path.stem: imports_of(path) for path in DOMAIN.glob("*.py")}


def test_the_domain_does_no_io_and_reads_no_command_line():
    found = {
        module: sorted(n for n in names if n.split(".")[0] in IMPURE or n.startswith(OUTSIDE))
        for module, names in MODULES.items()
    }
    assert {module: names for module, names in found.items() if names} == {}


def test_the_domain_modules_import_each_other_without_a_cycle():
    graph = {
        module: {n.removeprefix("shared.domain.") for n in names if n.startswith("shared.domain.")}
        for module, names in MODULES.items()
    }
    done: set[str] = set()

    def visit(module: str, trail: tuple[str, ...]) -> None:
        assert module not in trail, " -> ".join((*trail, module))
        if module in done:
            return
        for other in graph.get(module, ()):
            visit(other, (*trail, module))
        done.add(module)

    for module in graph:
        visit(module, ())


def test_one_home_for_is_chat():
    """The session's channel is decided in one place: ``SessionState.is_chat``."""
    root = DOMAIN.parents[1]
    defining = [
        str(path.relative_to(root))
        for path in (root / "shared").rglob("*.py")
        if "CHAT_SESSION_TYPES" in path.read_text(encoding="utf-8")
        and path.name not in ("catalog.py", "events.py")
    ]
    assert defining == ["shared/domain/session.py"]
