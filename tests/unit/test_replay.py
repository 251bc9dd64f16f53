"""``sessionctl replay``: files from a JSONL stream, with no emulator."""

from __future__ import annotations

import json
from datetime import UTC, timedelta

from sessionctl.cli import main
from tests.factory import T0, SessionScript, envelope, handled_call, raw

END = T0 + timedelta(seconds=200)


def write_jsonl(path, docs_or_lines):
    lines = [d if isinstance(d, bytes) else raw(d) for d in docs_or_lines]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def iso(at):
    return at.isoformat()


def test_due_sessions_get_their_files_and_bad_lines_are_reported(tmp_path, capsys):
    call = handled_call("111")
    fresh = handled_call("222", start=T0 + timedelta(hours=1))  # ends after --now - 15 min
    lines = list(reversed(call.docs)) + call.docs[:3] + fresh.docs
    lines.insert(4, b"{broken")
    lines.insert(9, raw(envelope("session.unknown")))
    source = write_jsonl(tmp_path / "events.jsonl", lines)
    out = tmp_path / "out"
    code = main(
        ["replay", str(source), "--out", str(out), "--now", iso(END + timedelta(minutes=20))]
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["datastream-111.json", "metadata-111.json"]
    doc = json.loads((out / "metadata-111.json").read_text())
    assert doc["event_count"] == len(call.docs) and doc["version"] == 1
    assert doc["updated_at"] == "2023-09-11T07:00:21.000+00:00"
    err = capsys.readouterr().err
    assert "events.jsonl:5: not_json" in err and "events.jsonl:10: unknown_type" in err


def test_a_late_event_gives_a_second_version(tmp_path):
    call = handled_call("333")
    call.at(200 + 3600).add("session.csat", {"rating": 2, "comment": "slow"})
    source = write_jsonl(tmp_path / "e.jsonl", call.docs)
    out = tmp_path / "out"
    late = T0 + timedelta(seconds=3800)
    assert (
        main(["replay", str(source), "--out", str(out), "--now", iso(late + timedelta(minutes=15))])
        == 0
    )
    doc = json.loads((out / "metadata-333.json").read_text())
    assert (doc["version"], doc["rating"], doc["comment"]) == (2, 2, "slow")
    assert doc["updated_at"] == (late + timedelta(minutes=15)).astimezone(UTC).isoformat(
        timespec="milliseconds"
    )


def test_the_finalize_delay_is_configurable(tmp_path):
    source = write_jsonl(tmp_path / "e.jsonl", handled_call("444").docs)
    out = tmp_path / "out"
    now = iso(END + timedelta(seconds=61))
    assert main(["replay", str(source), "--out", str(out), "--now", now]) == 0
    assert not out.exists() or not any(out.iterdir())
    args = ["replay", str(source), "--out", str(out), "--now", now, "--finalize-delay", "60"]
    assert main(args) == 0
    assert (out / "metadata-444.json").exists()


def test_a_session_without_end_is_written_as_failed_after_a_day(tmp_path):
    s = SessionScript(session_id="555")
    s.at(0).add("session.created", {"session_type": "Voice inbound"})
    source = write_jsonl(tmp_path / "e.jsonl", s.docs)
    out = tmp_path / "out"
    assert (
        main(["replay", str(source), "--out", str(out), "--now", iso(T0 + timedelta(hours=24))])
        == 0
    )
    doc = json.loads((out / "metadata-555.json").read_text())
    assert (doc["status"], doc["status_code"], doc["fail_reason"]) == ("failed", 9, "no_end_event")


def test_an_unwritable_output_directory_exits_non_zero(tmp_path, capsys):
    source = write_jsonl(tmp_path / "e.jsonl", handled_call("666").docs)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code = main(
        [
            "replay",
            str(source),
            "--out",
            str(blocker / "out"),
            "--now",
            iso(END + timedelta(hours=1)),
        ]
    )
    assert code == 1
    assert "cannot write" in capsys.readouterr().err


def test_a_byte_order_mark_and_windows_line_ends_are_accepted(tmp_path):
    docs = handled_call("777").docs
    source = tmp_path / "e.jsonl"
    source.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(raw(d) for d in docs) + b"\r\n")
    out = tmp_path / "out"
    assert (
        main(["replay", str(source), "--out", str(out), "--now", iso(END + timedelta(hours=1))])
        == 0
    )
    doc = json.loads((out / "metadata-777.json").read_text())
    assert doc["event_count"] == len(docs)
