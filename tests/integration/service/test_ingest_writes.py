"""Ingest at about one document write per event, on the emulator.

The session's first event and its ``session.ended`` live in the session document
(one write each, with the schedule); every other event is its own document and
writes nothing else unless it is late. Counted: the adapters' own write meter.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from shared.adapters.firestore_schedule import FirestoreSchedule
from tests.factory import T0, handled_call, raw
from tests.integration.helpers import make_pipeline, unique

pytestmark = pytest.mark.emulators
DELAY = timedelta(minutes=15)


@pytest.fixture
def pipe(emulators):
    return make_pipeline(emulators.project)


def ingest(pipe, docs, schedule: FirestoreSchedule | None = None) -> list[str]:
    """Through the use case; ``schedule``: another instance's adapter."""
    if schedule is not None:
        pipe = type(pipe)(**{**vars(pipe), "schedule": schedule})
    return [pipe.ingest(message(doc)).outcome for doc in docs]


def message(doc):
    from shared.ports import PubsubMessage

    return PubsubMessage(data=raw(doc), message_id=unique("m"))


def ended(script) -> list[dict]:
    return [d for d in script.docs if d["type"] == "session.ended"]


def test_a_whole_session_costs_one_write_per_event(pipe):
    script = handled_call(unique("s"))
    assert set(ingest(pipe, script.docs)) == {"stored"}
    assert pipe.counts.writes == len(script.docs)
    stored = sorted(e.event_id for e in pipe.events.load_events(script.session_id))
    assert stored == sorted(d["event_id"] for d in script.docs)
    schedule = pipe.probe.schedule(script.session_id)  # the end moved it
    assert schedule.due_at == T0 + timedelta(seconds=200) + DELAY


def test_redeliveries_are_duplicates_and_write_nothing(pipe):
    script = handled_call(unique("s"))
    ingest(pipe, script.docs)
    before = pipe.counts.writes
    again = [script.docs[0], script.docs[5], *ended(script)]
    assert ingest(pipe, again) == ["duplicate"] * 3
    assert pipe.counts.writes == before
    assert len(pipe.events.load_events(script.session_id)) == len(script.docs)


def test_another_instance_stores_and_counts_events_of_a_session_it_never_saw(pipe):
    script = handled_call(unique("s"))
    ingest(pipe, script.docs[:1])
    other = FirestoreSchedule(pipe.db, sessions=pipe.settings.sessions_collection)
    other._known = {}  # a fresh process remembers nothing
    assert set(ingest(pipe, script.docs[1:], schedule=other)) == {"stored"}
    keys = [(script.session_id, d["event_id"]) for d in script.docs]
    assert pipe.probe.stored(keys) == len(script.docs)
    assert len(pipe.events.load_events(script.session_id)) == len(script.docs)


def test_an_end_after_the_write_makes_the_session_due_again_as_a_late_event(pipe):
    script = handled_call(unique("s"))
    ingest(pipe, script.docs)
    end_at = T0 + timedelta(seconds=200)  # handled_call ends 200 s after T0
    assert pipe.finalize(end_at + DELAY).written == [script.session_id]
    script.at(3000).add("session.ended", {"final_status": "finished", "disconnected_by": "agent"})
    assert ingest(pipe, script.docs[-1:]) == ["stored"]
    schedule = pipe.probe.schedule(script.session_id)
    assert schedule.pending and schedule.late_seq == 1
    assert schedule.due_at == T0 + timedelta(seconds=3000) + DELAY


def test_a_large_first_event_goes_to_its_own_document(pipe):
    script = handled_call(unique("s"))
    script.docs[0]["data"]["menu"] = {**script.docs[0]["data"]["menu"], "blob": "x" * 70_000}
    assert ingest(pipe, script.docs[:1]) == ["stored"]
    assert pipe.counts.writes == 2  # the event, then the schedule
    assert "inline" not in pipe.probe.session_doc(script.session_id)
    [event] = pipe.events.load_events(script.session_id)
    assert event.event_id == script.docs[0]["event_id"]
    assert json.loads(raw(script.docs[0]))["event_id"] == event.event_id
