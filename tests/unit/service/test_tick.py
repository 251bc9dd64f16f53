"""A tick stands for the clock's time, or for the time it carries where that is allowed."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.config import Settings
from shared.service.tick import tick_time

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
