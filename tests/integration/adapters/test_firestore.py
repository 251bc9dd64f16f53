"""The Firestore adapters on the emulator: once-only events, schedules, claims, quarantine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.schedule import STUCK_SLACK
from shared.ports import QuarantineRecord
from tests.factory import T0, handled_call
from tests.integration.helpers import make_pipeline, unique

pytestmark = pytest.mark.emulators
DELAY = timedelta(minutes=15)
STUCK = timedelta(hours=24)


@pytest.fixture
def pipe(emulators):
    return make_pipeline(emulators.project)


def ingest(pipe, events):
    for event in events:
        pipe.events.add_event(event)
        pipe.schedule.note_event(event, delay=DELAY, stuck_timeout=STUCK)


def test_an_event_is_stored_once(pipe):
    event = handled_call(unique("s")).events()[0]
    assert pipe.events.add_event(event) is True
    assert pipe.events.add_event(event) is False
    assert pipe.events.load_events(event.session_id) == [event]


def test_only_schedule_changes_write_the_session_document(pipe):
    events = handled_call(unique("s")).events()
    before = pipe.counts.writes
    ingest(pipe, events)
    # one write per event, plus the session doc: created by the first, moved by the end
    assert pipe.counts.writes - before == len(events) + 2
    schedule = pipe.probe.schedule(events[0].session_id)
    end = next(e.occurred_at for e in events if e.type == "session.ended")
    assert schedule.pending is True and schedule.due_at == end + DELAY


def test_shuffled_events_write_the_session_document_only_when_it_is_created(pipe):
    script = handled_call(unique("s"))
    events = [e for e in script.events() if e.type != "session.ended"]
    before = pipe.counts.writes
    ingest(pipe, reversed(events))
    assert pipe.counts.writes - before == len(events) + 1
    assert pipe.counts.transactions == 0
    last = events[-1].occurred_at
    assert pipe.probe.schedule(script.session_id).due_at == last + STUCK - STUCK_SLACK


def test_due_sessions_are_found_by_their_due_time(pipe):
    events = handled_call(unique("s")).events()
    ingest(pipe, events)
    sid = events[0].session_id
    end = next(e.occurred_at for e in events if e.type == "session.ended")
    assert sid not in pipe.schedule.due_sessions(end + DELAY - timedelta(seconds=1), 50)
    assert sid in pipe.schedule.due_sessions(end + DELAY, 50)


def test_a_claim_is_exclusive_until_its_lease_runs_out(pipe):
    events = handled_call(unique("s")).events()
    ingest(pipe, events)
    sid, now = events[0].session_id, datetime.now(UTC)
    first = pipe.schedule.claim(sid, now, timedelta(seconds=60))
    assert first is not None
    assert pipe.schedule.claim(sid, now, timedelta(seconds=60)) is None
    pipe.clock.advance(61)
    assert pipe.schedule.claim(sid, now, timedelta(seconds=60)) is not None
    assert pipe.schedule.holds(first) is False


def test_the_backlog_names_sessions_held_by_a_live_claim_and_until_when(pipe):
    """What a tick that skipped sessions leaves behind, so nobody guesses when it is done."""
    held_script, free_script = handled_call(unique("s")), handled_call(unique("s"))
    ingest(pipe, held_script.events() + free_script.events())
    end = max(e.occurred_at for e in held_script.events() + free_script.events())
    now = end + DELAY
    assert pipe.schedule.backlog(now).due == 2
    assert pipe.schedule.backlog(now).held == ()

    lease = timedelta(seconds=120)
    claim = pipe.schedule.claim(held_script.session_id, now, lease)
    backlog = pipe.schedule.backlog(now)
    assert (backlog.due, backlog.free) == (2, 1)
    assert backlog.held == ((held_script.session_id, pipe.clock() + lease),)
    assert backlog.held_until == pipe.clock() + lease
    assert pipe.schedule.backlog(end).due == 0  # nothing was due yet

    pipe.clock.advance(121)  # the claim's finalizer died: its lease ran out
    assert pipe.schedule.backlog(now).held == ()
    assert pipe.schedule.holds(claim)  # still recorded, but no longer live


def test_a_late_event_after_the_write_makes_the_session_due_again(pipe):
    script = handled_call(unique("s"))
    ingest(pipe, script.events())
    sid, now = script.session_id, datetime.now(UTC)
    claim = pipe.schedule.claim(sid, now, timedelta(seconds=60))
    assert pipe.schedule.complete(claim, version=1, generation=7, content_hash="h1")
    assert sid not in pipe.schedule.due_sessions(now, 50)
    late_at = 3600
    script.at(late_at).add("session.csat", {"rating": 3})
    ingest(pipe, script.events()[-1:])
    schedule = pipe.probe.schedule(sid)
    assert schedule.pending is True and schedule.version == 1 and schedule.late_seq == 1
    assert schedule.due_at == T0 + timedelta(seconds=late_at) + DELAY


def test_an_event_during_a_claim_keeps_the_session_due_after_completion(pipe):
    script = handled_call(unique("s"))
    ingest(pipe, script.events())
    sid, now = script.session_id, datetime.now(UTC)
    claim = pipe.schedule.claim(sid, now, timedelta(seconds=60))
    script.at(400).add("session.csat", {"rating": 2})
    ingest(pipe, script.events()[-1:])
    assert pipe.schedule.complete(claim, version=1, generation=1, content_hash="h")
    assert pipe.probe.session_doc(sid)["pending"] is True


def test_quarantine_keeps_small_and_large_messages_whole(pipe):
    now = datetime.now(UTC)
    small = QuarantineRecord(unique("m"), b"{not json", {"type": "x"}, "not_json", "d", now)
    large = QuarantineRecord(
        unique("m"), bytes(range(256)) * 9000, {}, "payload_too_large", "2.3 MB", now
    )
    pipe.quarantine.keep(small)
    pipe.quarantine.keep(large)
    pipe.quarantine.keep(small)  # a redelivery
    listed = {r.id: r for r in pipe.quarantine.list_quarantine()}
    assert set(listed) == {small.id, large.id}
    assert listed[large.id].raw == large.raw and listed[small.id].attributes == {"type": "x"}
    pipe.quarantine.mark_replayed(small.id, "new-1")
    assert [r.id for r in pipe.quarantine.list_quarantine()] == [large.id]
    assert pipe.quarantine.get_quarantine(small.id).replayed_as == "new-1"


def test_a_redelivered_rejected_message_keeps_its_replayed_mark(pipe):
    now = datetime.now(UTC)
    record = QuarantineRecord(unique("m"), b"{bad", {}, "not_json", "d", now)
    pipe.quarantine.keep(record)
    pipe.quarantine.mark_replayed(record.id, "new-7")
    pipe.quarantine.keep(record)  # Pub/Sub delivers it once more
    assert pipe.quarantine.get_quarantine(record.id).replayed_as == "new-7"
