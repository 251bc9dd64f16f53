"""Finalization on the emulators: never early, once per version, repaired after a crash."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from shared.domain.files import metadata_name, render_files
from tests.factory import T0, handled_call
from tests.integration.adapters.test_firestore import ingest
from tests.integration.helpers import make_pipeline, pull_notices, unique

pytestmark = pytest.mark.emulators
END = T0 + timedelta(seconds=200)  # handled_call ends 200 s after T0


@pytest.fixture
def pipe(emulators):
    return make_pipeline(emulators.project)


def run_tick(pipe, now):
    return pipe.finalize(now)


def read_metadata(pipe, sid):
    stored = pipe.files.read(metadata_name(pipe.settings.object_prefix, sid))
    return None if stored is None else json.loads(stored.data)


def test_the_file_is_written_fifteen_minutes_after_the_end_and_not_before(pipe):
    script = handled_call(unique("s"))
    ingest(pipe, script.events())
    sid = script.session_id
    assert run_tick(pipe, END + timedelta(minutes=14, seconds=59)).written == []
    assert read_metadata(pipe, sid) is None
    assert run_tick(pipe, END + timedelta(minutes=15)).written == [sid]
    doc = read_metadata(pipe, sid)
    assert doc["version"] == 1 and doc["event_count"] == len(script.docs)
    assert doc["updated_at"] == "2023-09-11T07:00:21.000+00:00"
    stream = json.loads(pipe.files.read(f"datastream-{sid}.json").data)
    assert [e["type"] for e in stream["events"]] == ["stream.call_started", "stream.custom_data"]
    [notice] = [json.loads(n) for n in pull_notices(pipe.finalized_subscription)]
    assert (notice["session_id"], notice["version"]) == (sid, 1)
    assert notice["metadata"] == doc
    assert run_tick(pipe, END + timedelta(minutes=16)).written == []


def test_a_late_event_rewrites_the_file_as_the_next_version(pipe):
    script = handled_call(unique("s"))
    ingest(pipe, script.events())
    run_tick(pipe, END + timedelta(minutes=15))
    script.at(200 + 1800).add("session.csat", {"rating": 4, "comment": "Great"})
    ingest(pipe, script.events()[-1:])
    late = T0 + timedelta(seconds=2000)
    assert run_tick(pipe, late + timedelta(minutes=14)).written == []
    assert run_tick(pipe, late + timedelta(minutes=15)).written == [script.session_id]
    doc = read_metadata(pipe, script.session_id)
    assert doc["version"] == 2 and doc["rating"] == 4
    assert doc["updated_at"] > "2023-09-11T07:00:21"


def test_a_redelivered_old_event_does_not_make_a_new_version(pipe):
    script = handled_call(unique("s"))
    events = script.events()
    ingest(pipe, events)
    run_tick(pipe, END + timedelta(minutes=15))
    ingest(pipe, events[3:4])  # at-least-once: the same event again, after the write
    report = run_tick(pipe, END + timedelta(hours=2))
    assert report.unchanged == [script.session_id]
    assert read_metadata(pipe, script.session_id)["version"] == 1
    assert script.session_id not in pipe.schedule.due_sessions(END + timedelta(hours=3), 50)


def test_a_stuck_session_is_failed_with_no_end_event_after_the_timeout(pipe):
    script = handled_call(unique("s"))
    script.docs = [d for d in script.docs if d["type"] != "session.ended"]
    ingest(pipe, list(reversed(script.events())))  # the earliest event comes last
    report = run_tick(pipe, T0 + timedelta(hours=23, minutes=59))
    assert report.written == [] and report.deferred == [script.session_id]
    assert run_tick(pipe, T0 + timedelta(hours=23, minutes=59, seconds=59)).written == []
    assert run_tick(pipe, T0 + timedelta(hours=24)).written == [script.session_id]
    doc = read_metadata(pipe, script.session_id)
    assert (doc["status"], doc["fail_reason"]) == ("failed", "no_end_event")


def test_two_ticks_at_once_give_one_version(pipe):
    scripts = [handled_call(unique("s")) for _ in range(5)]
    for script in scripts:
        ingest(pipe, script.events())
    now = END + timedelta(minutes=15)
    reports = []
    threads = [
        threading.Thread(target=lambda: reports.append(run_tick(pipe, now))) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    written = sorted(sid for report in reports for sid in report.written)
    assert written == sorted(s.session_id for s in scripts)
    for script in scripts:
        assert read_metadata(pipe, script.session_id)["version"] == 1
    notices = [json.loads(n) for n in pull_notices(pipe.finalized_subscription)]
    assert sorted((n["session_id"], n["version"]) for n in notices) == sorted(
        (s.session_id, 1) for s in scripts
    )


def test_a_crash_between_the_write_and_the_mark_is_repaired_by_the_next_tick(pipe):
    script = handled_call(unique("s"))
    ingest(pipe, script.events())
    sid, now = script.session_id, END + timedelta(minutes=15)
    # A finalizer claims, writes version 1, and dies before recording it.
    claim = pipe.schedule.claim(sid, now, pipe.settings.claim_lease)
    crashed = render_files(sid, script.events(), version=1, updated_at=now, zone=pipe.settings.zone)
    pipe.files.write(f"metadata-{sid}.json", crashed.encoded()[0], if_generation_match=0)
    assert claim is not None
    assert run_tick(pipe, now).skipped == [sid]  # the dead finalizer's lease still holds
    pipe.clock.advance(pipe.settings.claim_lease_seconds + 1)
    assert run_tick(pipe, now + timedelta(minutes=1)).written == [sid]
    doc = read_metadata(pipe, sid)
    assert doc["version"] == 1  # repaired in place, not a second version
    assert pipe.probe.session_doc(sid)["version"] == 1
    assert run_tick(pipe, now + timedelta(hours=1)).written == []


def test_two_rewrites_racing_give_one_new_version(pipe):
    scripts = [handled_call(unique("s")) for _ in range(4)]
    for script in scripts:
        ingest(pipe, script.events())
    run_tick(pipe, END + timedelta(minutes=15))
    for script in scripts:
        script.at(1000).add("session.disposition", {"code": "Callback"})
        ingest(pipe, script.events()[-1:])
    now = T0 + timedelta(seconds=1000) + timedelta(minutes=15)
    reports = []
    threads = [
        threading.Thread(target=lambda: reports.append(run_tick(pipe, now))) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(s for r in reports for s in r.written) == sorted(s.session_id for s in scripts)
    for script in scripts:
        doc = read_metadata(pipe, script.session_id)
        assert doc["version"] == 2 and doc["disposition"]["code"] == "Callback"


def test_a_session_that_cannot_be_written_does_not_stop_the_others(pipe):
    from shared.adapters.firestore_common import event_doc_id

    poisoned, healthy = handled_call(unique("s")), handled_call(unique("s"))
    ingest(pipe, poisoned.events())
    ingest(pipe, healthy.events())
    # A stored event that no longer parses (say, written by an older release).
    sessions = pipe.db.collection(pipe.settings.sessions_collection)
    events = sessions.document(poisoned.session_id).collection("events")
    events.document(event_doc_id(poisoned.docs[0]["event_id"])).update({"envelope": "{oops"})
    now = END + timedelta(minutes=15)
    report = run_tick(pipe, now)
    assert report.failed == [poisoned.session_id]
    assert report.written == [healthy.session_id]
    assert poisoned.session_id not in pipe.schedule.due_sessions(now + timedelta(minutes=1), 50)
    assert poisoned.session_id in pipe.schedule.due_sessions(now + timedelta(minutes=2), 50)
