"""``sessionctl replay``: files from a JSONL stream, with no emulator."""

from __future__ import annotations

import json
from datetime import UTC, timedelta

import pytest

from sessionctl.cli import main
from tests.factory import T0, SessionScript, envelope, handled_call, raw, shaped_call

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


def test_replay_of_shapes_real_producers_send_gives_complete_files(tmp_path, capsys):
    s = shaped_call("777")
    source = write_jsonl(tmp_path / "shaped.jsonl", s.docs)
    out = tmp_path / "out"
    now = T0 + timedelta(hours=1)
    assert main(["replay", str(source), "--out", str(out), "--now", iso(now)]) == 0
    doc = json.loads((out / "metadata-777.json").read_text())
    assert doc["event_count"] == len(s.docs)
    assert [t["status"] for t in doc["transfers"]] == ["completed"]
    assert (doc["status"], doc["fail_reason"], doc["fail_details"]) == (
        "failed",
        None,
        {"sip": 503},
    )
    assert doc["ends_at"] is not None and doc["disconnected_by"] == "system"
    assert doc["call_duration"] == 590  # assigned +10 s -> end +600 s, past the first wrap-up
    assert (doc["hold_durations"], doc["hold_duration"]) == ([10, 7], 17)
    assert doc["agent_info"]["id"] == "101" and doc["recording_permission"] == "not_asked"
    assert doc["menu_path"]["materialized_path"] == "2420/4563/6205" and doc["photos"] == 1
    captured = capsys.readouterr()
    assert "2 field(s) of an unexpected shape left out" in captured.out
    assert "shaped.jsonl:14: warning: session 777 event 777-013: data.fail_reason" in captured.err


def test_replay_takes_a_fixed_offset_as_the_time_zone(tmp_path, monkeypatch):
    monkeypatch.setenv("TIMEZONE", "+03:00")
    source = write_jsonl(tmp_path / "e.jsonl", handled_call("444").docs)
    out = tmp_path / "out"
    assert (
        main(["replay", str(source), "--out", str(out), "--now", iso(END + timedelta(hours=1))])
        == 0
    )
    doc = json.loads((out / "metadata-444.json").read_text())
    assert doc["ends_at"] == "2023-09-11T09:45:21.000+03:00"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TIMEZONE", "Mars/Olympus"), ("TIMEZONE", "+25:00"), ("FINALIZE_DELAY_SECONDS", "soon")],
)
def test_a_bad_setting_fails_with_one_line_naming_the_variable(
    tmp_path, monkeypatch, capsys, variable, value
):
    monkeypatch.setenv(variable, value)
    source = write_jsonl(tmp_path / "e.jsonl", handled_call("555").docs)
    assert main(["replay", str(source), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{variable}: " in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
