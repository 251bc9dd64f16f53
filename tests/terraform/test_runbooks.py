"""Every alert's runbook names sessionctl commands that reach the deployed environment.

Each command named in monitoring.tf must (1) exist with those arguments, (2) be run
with ``--env <environment>`` (the deployed form, not the local stack), and (3) have a
test that runs it on the emulators without a local stack file.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import pytest

from sessionctl.cli import cli
from tests.terraform import checks

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "terraform/modules/session-pipeline/monitoring.tf"
# Command -> the emulator tests that run it on a deployed-style target (--outputs).
TESTED = {
    "status": [
        "tests/integration/test_operator.py::test_status_prints_the_backlog_of_the_environment",
    ],
    "holds list": [
        "tests/integration/test_operator.py::test_holds_list_shows_letters_and_leaves_them"
    ],
    "holds republish": [
        "tests/integration/test_operator.py::test_holds_republish_puts_letters_back_on_their_topic",
    ],
    "holds purge": ["tests/integration/test_operator.py::test_holds_purge_asks_then_deletes"],
    "quarantine list": [
        "tests/integration/test_operator.py::test_quarantine_list_and_replay_reach_the_environment",
    ],
    "quarantine replay": [
        "tests/integration/test_operator.py::test_quarantine_list_and_replay_reach_the_environment",
    ],
    "crm dead-letters": [
        "tests/integration/test_operator.py::test_crm_dead_letters_and_replay_reach_the_environment",
    ],
    "crm replay": [
        "tests/integration/test_operator.py::test_crm_dead_letters_and_replay_reach_the_environment",
    ],
    "show": ["tests/integration/test_operator.py::test_show_reads_the_environment"],
}
PLACEHOLDER = {"TRIGGER": "ingest_events", "ID": "some-id", "SESSION_ID": "some-session"}


def _runbooks(text: str) -> dict[str, list[str]]:
    """alert policy name -> the sessionctl commands its documentation names."""
    out: dict[str, list[str]] = {}
    for name, body in re.findall(
        r'resource "google_monitoring_alert_policy" "(\w+)" \{(.*?)\n\}\n', text, re.S
    ):
        out[name] = re.findall(r"\$\{local\.sessionctl\} ([a-z][a-z -]*[a-z](?: [A-Z_]+)?)", body)
    return out


def _command_path(words: list[str]) -> str:
    command: click.Command = cli
    path = []
    for word in words:
        if not isinstance(command, click.Group) or word not in command.commands:
            break
        command = command.commands[word]
        path.append(word)
    return " ".join(path)


def test_every_alert_has_a_runbook_command() -> None:
    runbooks = _runbooks(MONITORING.read_text())
    assert len(runbooks) >= 7
    assert all(runbooks.values()), {k: v for k, v in runbooks.items() if not v}


def test_runbooks_reach_the_deployed_environment() -> None:
    (module,) = [m for m in checks.load(REPO / "terraform") if m.dir.name == "session-pipeline"]
    assert module.locals["sessionctl"] == "sessionctl --env ${var.environment}"


@pytest.mark.parametrize(
    "command",
    sorted({c for cs in _runbooks(MONITORING.read_text()).values() for c in cs}),
)
def test_each_runbook_command_exists_and_has_an_emulator_test(command: str) -> None:
    words = [PLACEHOLDER.get(w, w) for w in command.split()]
    path = _command_path(words)
    assert path, f"{command}: no such command"
    # Parsing alone: the global --env, then the command with its arguments, are accepted.
    cli.make_context("sessionctl", ["--env", "prod", words[0]])
    leaf: click.Command = cli
    for word in path.split():
        leaf = leaf.commands[word]  # type: ignore[attr-defined]
    leaf.make_context(path, words[len(path.split()) :])
    assert path in TESTED, f"runbook command {command!r} has no emulator test listed"
    for test in TESTED[path]:
        file, name = test.split("::")
        tree = ast.parse((REPO / file).read_text())
        assert name in {f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}, test


def test_every_log_message_a_metric_counts_is_logged_by_the_code() -> None:
    text = MONITORING.read_text()
    messages = re.findall(r'jsonPayload\.message=\\"([^"\\]+)\\"', text)
    assert {"finalize tick", "crm parked jobs", "crm job dead-lettered"} <= set(messages)
    code = "\n".join(
        p.read_text() for d in ("shared", "functions") for p in (REPO / d).rglob("*.py")
    )
    for message in messages:
        assert f'"{message}"' in code, f"monitoring.tf counts {message!r}, which nothing logs"
