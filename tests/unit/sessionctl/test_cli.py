"""The ``sessionctl`` command line: every command and flag the README and issues name.

The list below is the contract people and scripts rely on; a command that loses
a flag, or a new command without help, fails here.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import click
import pytest

from sessionctl.cli import cli, main
from sessionctl.commands.common import ISO

# command path -> the options and arguments its --help must show
DOCUMENTED = {
    (): ["--state-dir"],
    ("local",): ["up", "down"],
    ("local", "up"): ["--crm", "--env", "NAME=VALUE", "--json"],
    ("local", "down"): [],
    ("publish",): ["EVENTS", "--no-wait", "--json"],
    ("tick",): ["--now", "--no-wait", "--json"],
    ("replay",): ["EVENTS", "--out", "--now", "--finalize-delay", "SECONDS"],
    ("demo",): ["--seed", "--sessions", "--out"],
    ("show",): ["SESSION_ID", "--json"],
    ("quarantine",): ["list", "replay"],
    ("quarantine", "list"): ["--all", "--json"],
    ("quarantine", "replay"): ["ID", "--data"],
    ("crm",): ["dead-letters", "replay"],
    ("crm", "dead-letters"): ["--all", "--json"],
    ("crm", "replay"): ["ID"],
    ("stage",): ["--out"],
    ("schema",): ["--out"],
    ("report",): ["SOURCE", "--out", "--stack", "--events", "--now", "--finalize-delay", "--json"],
    ("completion",): ["bash", "zsh", "fish"],
}


def _all_paths(group: click.Group, prefix: tuple[str, ...] = ()):
    yield prefix
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _all_paths(command, (*prefix, name))
        else:
            yield (*prefix, name)


@pytest.mark.parametrize("path", sorted(DOCUMENTED), ids=lambda p: " ".join(p) or "sessionctl")
def test_every_documented_command_answers_help_with_its_flags(path, capsys):
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Usage: {' '.join(('sessionctl', *path))}")
    for word in DOCUMENTED[path]:
        assert word in out, f"{word} missing from `sessionctl {' '.join(path)} --help`"


def test_every_command_is_documented_here_and_has_a_help_line():
    paths = set(_all_paths(cli))
    assert paths >= set(DOCUMENTED)
    for path in paths:
        command = cli
        for name in path:
            command = command.commands[name]
        assert command.get_short_help_str(), f"sessionctl {' '.join(path)} has no help"


def test_a_command_without_a_running_stack_says_how_to_start_one(tmp_path, capsys):
    assert main(["--state-dir", str(tmp_path), "show", "42"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert str(tmp_path) in err[0] and "sessionctl local up" in err[0]


def test_the_state_directory_comes_from_the_environment_when_not_given(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("SESSIONCTL_STATE_DIR", str(tmp_path / "elsewhere"))
    assert main(["quarantine", "list"]) == 1
    assert str(tmp_path / "elsewhere") in capsys.readouterr().err
    assert main(["--state-dir", str(tmp_path / "given"), "crm", "dead-letters"]) == 1
    assert str(tmp_path / "given") in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, named",
    [
        (["tick", "--now", "last tuesday"], "--now"),
        (["local", "up", "--env", "NOEQUALS"], "NAME=VALUE"),
        (["local", "up", "--crm", "hubspot"], "--crm"),
        (["publish", "missing.jsonl"], "EVENTS"),
        (["replay", "missing.jsonl", "--out", "x"], "EVENTS"),
        (["nosuchcommand"], "nosuchcommand"),
        (["report", "--out", "x"], "SOURCE"),
        (["report", "missing-folder", "--out", "x"], "missing-folder"),
    ],
)
def test_a_usage_error_is_one_line_naming_what_to_fix(argv, named, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0] and "--help" in err[0]


def test_a_time_without_an_offset_is_utc_and_one_with_an_offset_keeps_it():
    assert ISO.convert("2023-09-11T10:30:00", None, None) == datetime(
        2023, 9, 11, 10, 30, tzinfo=UTC
    )
    three = timezone(timedelta(hours=3))
    assert ISO.convert("2023-09-11T10:30:00+03:00", None, None).utcoffset() == three.utcoffset(None)


def test_schema_writes_the_schemas_where_asked(tmp_path, capsys):
    assert main(["schema", "--out", str(tmp_path)]) == 0
    written = capsys.readouterr().out.split()
    assert written and all(json.loads(Path(p).read_text()) for p in written)
    assert {p.rsplit("/", 1)[0] for p in written} == {str(tmp_path)}


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_a_script_for_each_shell(shell, capsys):
    assert main(["completion", shell]) == 0
    out = capsys.readouterr().out
    assert "_SESSIONCTL_COMPLETE" in out and re.search(r"sessionctl", out)
