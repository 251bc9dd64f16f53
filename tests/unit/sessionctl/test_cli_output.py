"""What the list and card commands print: tables for people, tab-separated lines for pipes,
JSON for scripts, and the card's colour in words. The store is a small stand-in of our own
port (the emulator-backed paths run in tests/e2e)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from sessionctl.cli import main
from sessionctl.commands import common, crm, quarantine, show
from shared.adapters.firestore_crm import DeadLetter
from shared.ports import QuarantineRecord

AT = datetime(2023, 9, 11, 7, 0, tzinfo=UTC)
RECORDS = [
    QuarantineRecord("m-1", b"{broken", {}, "not_json", "Expecting value", AT),
    QuarantineRecord("m-2", b"{}", {"session_id": "s"}, "missing_field", "no type", AT, "m-9"),
]
LETTERS = [DeadLetter("d-1", {"session_id": "s-1", "trigger": "ended"}, "HTTP 422", AT)]


class Store:
    def list_quarantine(self, *, include_replayed=False):
        return [r for r in RECORDS if include_replayed or not r.replayed_as]


class CrmRecords:
    def dead_letters(self, *, include_replayed=False):
        return LETTERS


@pytest.fixture
def stack(monkeypatch):
    from shared import bootstrap

    for module in (quarantine, crm, show):
        monkeypatch.setattr(module, "use_stack", lambda ctx: None)
    monkeypatch.setattr(bootstrap, "quarantine", lambda: Store())
    monkeypatch.setattr(bootstrap, "crm_records", lambda: CrmRecords())


def at_terminal(monkeypatch, yes: bool) -> None:
    for module in (quarantine, crm, show, common):
        monkeypatch.setattr(module, "interactive", lambda: yes, raising=False)


def test_quarantine_list_is_a_table_at_a_terminal(stack, monkeypatch, capsys):
    at_terminal(monkeypatch, True)
    assert main(["quarantine", "list", "--all"]) == 0
    out = capsys.readouterr().out
    assert "2 quarantined message(s)" in out and "┃ id" in out
    assert "not_json" in out and "missing_field" in out and "m-9" in out


def test_quarantine_list_is_tab_separated_in_a_pipe(stack, monkeypatch, capsys):
    at_terminal(monkeypatch, False)
    assert main(["quarantine", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t")[:4] == ["m-1", "2023-09-11T07:00:00+00:00", "not_json", "7 bytes"]
    assert lines[-1] == "1 quarantined message(s)"


def test_quarantine_list_and_dead_letters_give_json_for_scripts(stack, monkeypatch, capsys):
    at_terminal(monkeypatch, True)
    assert main(["quarantine", "list", "--all", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["bytes"], r["replayed_as"]) for r in doc] == [
        ("m-1", 7, None),
        ("m-2", 2, "m-9"),
    ]
    assert main(["crm", "dead-letters", "--json"]) == 0
    [letter] = json.loads(capsys.readouterr().out)
    assert letter["job"]["trigger"] == "ended" and letter["failed_at"] == AT.isoformat()


def test_dead_letters_are_a_table_at_a_terminal(stack, monkeypatch, capsys):
    at_terminal(monkeypatch, True)
    assert main(["crm", "dead-letters"]) == 0
    out = capsys.readouterr().out
    assert "1 dead-lettered CRM job(s)" in out and "HTTP 422" in out and "s-1" in out


def test_progress_is_silent_when_nobody_watches(capsys):
    with common.progress("working") as update:
        update(1, 2)
    assert capsys.readouterr() == ("", "")
