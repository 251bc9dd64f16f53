"""The report's view model: session files in, cards and timelines out (no browser)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devstack.simulate import simulate_traffic
from sessionctl.replay import replay
from sessionctl.report.build import build_report, parse_lines, read_folder
from sessionctl.report.model import build_model, slug
from shared.config import Settings
from shared.domain.card import build_card
from shared.domain.events import Event
from shared.domain.files import datastream_name, metadata_name
from shared.domain.session import reduce_session

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "session-12345.jsonl"


def files_of(events: list[Event], now: datetime, settings: Settings) -> dict:
    out = {}
    for f in replay(events, now=now, settings=settings):
        out[metadata_name("", f.session_id)] = json.loads(json.dumps(f.metadata, default=str))
        out[datastream_name("", f.session_id)] = json.loads(json.dumps(f.datastream, default=str))
    return out


@pytest.fixture(scope="module")
def example():
    settings = Settings(timezone="Europe/Istanbul")
    with EXAMPLE.open("rb") as handle:
        events = parse_lines(handle)
    now = datetime.fromisoformat("2023-09-11T12:00:00+03:00")
    [view] = build_model(files_of(events, now, settings)).sessions
    return view


def at(clock: str) -> datetime:
    return datetime.fromisoformat(f"2023-09-11T{clock}+03:00")


def test_the_example_call_reads_as_its_seed_003_card(example):
    assert (example.colour, example.colour_word) == ("gray", "Inactive")
    assert example.meaning.startswith("inactive")
    assert example.title == "Voice Inbound (IVR) 12345" and example.icon == "call"
    assert example.duration_seconds == 400  # 09:42:01 -> 09:48:41
    assert (example.queue, example.agent) == ("Orders", "Dana K")
    assert example.status == "Resolved" and example.wrap_up_code == "Resolved"


def test_the_example_timeline_has_every_part_of_the_journey_in_order(example):
    parts = [(s.kind, s.label, s.start, s.end) for s in example.segments if s.kind != "stream"]
    assert parts == [
        ("ivr", "IVR / menu: Billing", at("09:42:01"), at("09:42:11")),
        ("queue", "waiting in queue Orders", at("09:42:11"), at("09:42:41.400")),
        ("agent", "Noam B", at("09:42:46"), at("09:45:26")),
        ("hold", "on hold 16 s (interaction 1)", at("09:42:46"), at("09:43:02")),
        (
            "transfer",
            "transfer completed: agent 101, menu_path 2420/4563/6205 → agent 102, "
            "menu_path 2420/4563/6300",
            at("09:45:00"),
            at("09:45:26"),
        ),
        ("agent", "Dana K", at("09:45:25"), at("09:48:41")),
        ("hold", "on hold 31 s (interaction 2)", at("09:45:26"), at("09:45:57")),
        ("end", "ended by agent", at("09:48:41"), at("09:48:41")),
        ("wrapup", "wrap-up (Resolved)", at("09:48:41"), at("09:49:45.400")),
    ]
    assert all(s.approximate for s in example.segments if s.kind == "hold")
    assert not any(s.approximate for s in example.segments if s.kind != "hold")


def test_late_items_and_versions_are_placed_after_the_end(example):
    late = [(s.kind, s.start) for s in example.after_end]
    assert late == [
        ("end", at("09:48:41")),
        ("stream", at("09:49:30")),  # the disposition item, after the end
        ("stream", at("09:50:10")),  # the recording link
        ("version", at("10:03:41")),  # version 1, 15 minutes after the end
        ("late", at("10:10:00")),  # the CSAT that made version 2 (15 minutes before it)
        ("version", at("10:25:00")),
    ]
    assert [i.name for i in example.stream if i.after_end] == ["disposition", "call_recording"]
    assert not any(i.late for i in example.stream)  # both came before version 1 was due
    assert example.version == 2


def test_cards_from_files_agree_with_the_live_card_of_the_same_events():
    settings = Settings()
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    traffic = simulate_traffic(seed=11, now=now, sessions=40)
    events = parse_lines(traffic.lines)
    report = build_model(files_of(events, now, settings))
    assert len(report.sessions) > 20
    by_id: dict[str, list[Event]] = {}
    for e in events:
        by_id.setdefault(e.session_id, []).append(e)
    compared = 0
    for view in report.sessions:
        state = reduce_session(view.session_id, by_id[view.session_id])
        if not state.is_ended:
            continue  # closed by the stuck timeout: the live card still says active
        card = build_card(state, now=now, zone=settings.zone)
        assert (view.colour, view.meaning, view.title, view.icon) == (
            card.colour,
            card.meaning,
            card.title,
            card.icon,
        ), view.session_id
        assert (view.queue, view.agent, view.status, view.wrap_up_code) == (
            card.queue,
            card.agent,
            card.status,
            card.wrap_up_code,
        ), view.session_id
        assert view.duration_seconds == card.duration_seconds, view.session_id
        compared += 1
    assert compared > 20
    assert {v.colour for v in report.sessions} == {"white", "gray"}
    stuck = [v for v in report.sessions if v.ended is None]
    assert stuck  # the simulator's traffic has sessions that never get their end event
    for view in stuck:  # closed by the stuck timeout: the card runs to the last thing known
        assert view.status == "failed (no end event)" and view.colour == "gray"
        assert view.duration_seconds == _whole_seconds(
            view.started, max(s.end for s in view.segments)
        )


def _whole_seconds(start, end):
    return max(0, int((max(end, start) - start).total_seconds() + 0.5))


def test_missing_odd_and_new_keys_never_break_the_report():
    files = {
        "metadata-a.json": {"id": "a"},
        "metadata-b.json": {
            "id": "b",
            "created_at": "not a time",
            "ends_at": "2023-09-11T09:00:00.000+00:00",
            "participants": ["junk", {"name": "X"}],
            "transfers": None,
            "hold_durations": "many",
            "menu_path": {"materialized_path": "1/2/3", "name": "Sales"},
            "photos": 2,
            "videos": 0,
            "transcript": [{"sender": "end_user", "text": "hi"}],
        },
        "datastream-b.json": {"id": "b", "events": [None, {"name": "x"}]},
        "datastream-c.json": {"id": "c", "events": []},
        "metadata-d.json": ["not", "an", "object"],
    }
    report = build_model(files)
    assert [v.session_id for v in report.sessions] == ["b", "a"]
    b = report.sessions[0]
    assert ("Menu", "Sales / 1/2/3") in b.facts and ("Photos", "2") in b.facts
    assert [s.kind for s in b.segments] == ["end"]
    assert "datastream-c.json has no metadata file" in report.problems
    assert any("metadata-d.json" in p for p in report.problems)


def test_page_names_are_safe_and_distinct():
    assert slug("12345") == "12345"
    assert slug("../etc/passwd") == "_etc_passwd"
    report = build_model({"metadata-a b.json": {"id": "a b"}, "metadata-a_b.json": {"id": "a_b"}})
    assert len({v.slug for v in report.sessions}) == 2


def test_the_report_is_one_folder_that_needs_no_network(tmp_path, example):
    source = tmp_path / "files"
    (source / "prefix").mkdir(parents=True)
    for name, doc in {"metadata-1.json": example.metadata}.items():
        (source / "prefix" / name).write_text(json.dumps(doc))
    index, report = build_report(read_folder(source), tmp_path / "html")
    (tmp_path / "html" / "sessions" / "stale.html").write_text("old")
    index, report = build_report(read_folder(source), tmp_path / "html")
    pages = sorted(p.name for p in (tmp_path / "html" / "sessions").iterdir())
    assert pages == ["12345.html"] and index == tmp_path / "html" / "index.html"
    for page in [index, *(tmp_path / "html" / "sessions").iterdir()]:
        html = page.read_text()
        assert "<script src" not in html and "<link" not in html and "url(" not in html
        assert "@import" not in html


def test_a_later_finalize_delay_moves_version_one(example):
    doc = example.metadata
    view = build_model({"metadata-12345.json": doc}, finalize_delay=timedelta(minutes=5)).sessions[
        0
    ]
    first = [s for s in view.after_end if s.kind == "version"][0]
    assert first.start == at("09:53:41")
