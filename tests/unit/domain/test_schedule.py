"""When files are due: the 15 minutes, late events, the stuck-session timeout."""

from __future__ import annotations

from datetime import timedelta

from shared.domain.schedule import (
    STUCK_SLACK,
    after_event,
    after_write,
    is_due,
    simulate_writes,
    stuck_due,
)
from tests.factory import T0, SessionScript, handled_call

DELAY = timedelta(minutes=15)
STUCK = timedelta(hours=24)


def writes(script: SessionScript, now):
    return simulate_writes(script.events(), now=now, delay=DELAY, stuck_timeout=STUCK)


def test_never_written_before_fifteen_minutes_after_the_end():
    s = handled_call()
    end = T0 + timedelta(seconds=200)
    assert writes(s, end + DELAY - timedelta(milliseconds=1)) == []
    [first] = writes(s, end + DELAY)
    assert first.at == end + DELAY and first.version == 1


def test_a_late_event_makes_the_session_due_again_fifteen_minutes_after_it():
    s = handled_call()
    end = T0 + timedelta(seconds=200)
    late_at = 200 + 30 * 60
    s.at(late_at).add("session.csat", {"rating": 4, "comment": "Great job, I love my agent"})
    late = T0 + timedelta(seconds=late_at)
    assert len(writes(s, late + DELAY - timedelta(seconds=1))) == 1
    first, second = writes(s, late + DELAY)
    assert (first.at, second.at) == (end + DELAY, late + DELAY)
    assert second.version == 2 and len(second.events) == len(first.events) + 1


def test_a_session_without_end_is_due_after_the_stuck_timeout_and_rewritten_when_it_ends():
    s = SessionScript()
    s.at(0).add("session.created", {"session_type": "Voice inbound"})
    assert writes(s, T0 + STUCK - timedelta(seconds=1)) == []
    [stuck] = writes(s, T0 + STUCK)
    assert stuck.version == 1
    s.at(STUCK.total_seconds() + 60).add("session.ended", {"final_status": "finished"})
    _, ended = writes(s, T0 + STUCK + timedelta(seconds=60) + DELAY)
    assert ended.version == 2


def test_the_first_event_sets_a_provisional_stuck_time_that_earlier_events_do_not_move():
    first = after_event(
        None, occurred_at=T0, is_end=False, writing=False, delay=DELAY, stuck_timeout=STUCK
    )
    assert first.due_at == T0 + STUCK - STUCK_SLACK and first.awaits_stuck_timeout
    earlier = after_event(
        first,
        occurred_at=T0 - timedelta(minutes=30),
        is_end=False,
        writing=False,
        delay=DELAY,
        stuck_timeout=STUCK,
    )
    assert earlier is None


def test_the_exact_stuck_time_is_a_day_after_the_earliest_event():
    events = handled_call().events()
    assert stuck_due(list(reversed(events)), STUCK) == T0 + STUCK


def test_an_event_that_changes_nothing_writes_nothing():
    first = after_event(
        None, occurred_at=T0, is_end=False, writing=False, delay=DELAY, stuck_timeout=STUCK
    )
    later = after_event(
        first,
        occurred_at=T0 + timedelta(seconds=5),
        is_end=False,
        writing=False,
        delay=DELAY,
        stuck_timeout=STUCK,
    )
    assert later is None


def test_an_event_during_a_write_keeps_the_session_due():
    ended = after_event(
        None, occurred_at=T0, is_end=True, writing=False, delay=DELAY, stuck_timeout=STUCK
    )
    seen = ended.late_seq
    during = after_event(
        ended,
        occurred_at=T0 + timedelta(minutes=16),
        is_end=False,
        writing=True,
        delay=DELAY,
        stuck_timeout=STUCK,
    )
    done = after_write(during, version=1, late_seq_seen=seen)
    assert done.pending and is_due(done, T0 + timedelta(minutes=31))
    assert not after_write(ended, version=1, late_seq_seen=seen).pending
