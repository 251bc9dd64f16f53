"""A tick stands for the clock's time, or for the time it carries where that is allowed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from shared.config import Settings
from shared.ports import PubsubMessage
from shared.service.finalize import FinalizeReport
from shared.service.tick import run_tick, tick_time
from tests.fakes import FakeEvents, FakeFiles, FakePublisher, FakeSchedule, FakeTicks

CLOCK = datetime(2026, 1, 1, tzinfo=UTC)


def clock() -> datetime:
    return CLOCK


def test_a_plain_tick_is_the_clock():
    assert tick_time(b"{}", Settings(), clock=clock) == CLOCK
    assert tick_time(b"", Settings(), clock=clock) == CLOCK
    assert tick_time(b"not json", Settings(), clock=clock) == CLOCK


def test_a_carried_now_is_honoured_only_where_configuration_allows_it():
    body = b'{"now": "2023-09-11T10:00:00.000+03:00"}'
    assert tick_time(body, Settings(allow_tick_now=False), clock=clock) == CLOCK
    carried = tick_time(body, Settings(allow_tick_now=True), clock=clock)
    assert carried == datetime(2023, 9, 11, 7, 0, tzinfo=UTC)


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_a_malformed_tick_is_logged_once_and_read_as_a_plain_tick(capsys):
    assert tick_time(b'["not", "an", "object"]', Settings(), clock=clock) == CLOCK
    [line] = _json_lines(capsys.readouterr().out)
    assert (
        line["severity"] == "WARNING" and line["message"] == "malformed tick read as a plain tick"
    )


def test_a_tick_carrying_an_unreadable_now_is_logged_once_and_runs_nothing(capsys):
    events, schedule, ticks = FakeEvents(), FakeSchedule(), FakeTicks()
    schedule.fail_next("due_sessions", AssertionError("the finalizer must not run"))
    report = run_tick(
        PubsubMessage(b'{"now": "last tuesday"}', "tick-1"),
        events=events,
        schedule=schedule,
        files=FakeFiles(),
        publisher=FakePublisher(),
        ticks=ticks,
        settings=Settings(allow_tick_now=True),
        clock=clock,
    )
    assert report == FinalizeReport() and ticks.records == {}
    [line] = _json_lines(capsys.readouterr().out)
    assert line["severity"] == "ERROR" and line["now"] == "last tuesday"
