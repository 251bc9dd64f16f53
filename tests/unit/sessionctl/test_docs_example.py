"""docs/files.md shows two files made by ``sessionctl replay``: they are what it makes today."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from sessionctl.cli import main

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "files.md").read_text(encoding="utf-8")


def shown(marker: str) -> dict:
    """The JSON block that follows ``marker`` in the page."""
    after = DOC[DOC.index(marker) :]
    block = re.search(r"```json\n(.*?)```", after, re.S)
    assert block, marker
    return json.loads(block.group(1))


def test_the_documented_example_is_what_replay_writes(tmp_path, monkeypatch, capsys):
    command = re.search(r"^\$ (TIMEZONE=\S+) sessionctl (replay .*)$", DOC, re.M)
    assert command, "the page shows the replay command"
    monkeypatch.setenv(*command.group(1).split("=", 1))
    monkeypatch.chdir(ROOT)
    args = shlex.split(command.group(2))
    args[args.index("--out") + 1] = str(tmp_path)
    assert main(args) == 0
    printed = capsys.readouterr().out.strip()
    documented = DOC[DOC.index(command.group(0)) :].splitlines()[1]
    assert printed == documented.replace("/tmp/example", str(tmp_path))
    for name, marker in (
        ("metadata-12345.json", "`/tmp/example/metadata-12345.json`:"),
        ("datastream-12345.json", "(`/tmp/example/datastream-12345.json`):"),
    ):
        assert json.loads((tmp_path / name).read_text(encoding="utf-8")) == shown(marker), name
