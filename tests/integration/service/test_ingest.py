"""The ingest use case on the emulator: bad input is kept and acked; bursts are absorbed."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from shared.adapters.pubsub import PubsubMessage
from shared.logs import JsonFormatter
from tests.factory import SessionScript, envelope, handled_call, raw
from tests.integration.helpers import make_pipeline, unique

pytestmark = pytest.mark.emulators

BAD_BODIES = {
    "not_json": b"{not json",
    "missing_field": raw({k: v for k, v in envelope("session.created").items() if k != "type"}),
    "unsupported_spec": raw({**envelope("session.created"), "spec": "session-event/v9"}),
    "unknown_type": raw(envelope("session.exploded")),
    "status_mismatch": raw(
        envelope("session.status_changed", {"status": "queued", "status_code": 5})
    ),
    "bad_timestamp": raw({**envelope("session.created"), "occurred_at": "11/09/2023 09:42"}),
    "payload_too_large": raw(envelope("stream.customer_text_note", {"text": "x" * (1 << 20)})),
}


@pytest.fixture
def pipe(emulators):
    return make_pipeline(emulators.project)


def message(body: bytes, **attributes) -> PubsubMessage:
    return PubsubMessage(data=body, message_id=unique("msg"), attributes=attributes)


@pytest.mark.parametrize("reason", sorted(BAD_BODIES))
def test_bad_input_is_kept_whole_with_its_reason_and_nothing_else_changes(pipe, reason, caplog):
    good = handled_call(unique("s"))
    for doc in good.docs:
        pipe.ingest(message(raw(doc)))
    before = pipe.events.load_events(good.session_id)
    bad = message(BAD_BODIES[reason], session_id=good.session_id)
    result = pipe.ingest(bad)
    assert result.outcome == "quarantined" and result.reason == reason
    [kept] = pipe.quarantine.list_quarantine()
    assert kept.id == bad.message_id and kept.raw == bad.data and kept.reason == reason
    assert kept.attributes == {"session_id": good.session_id}
    assert pipe.events.load_events(good.session_id) == before
    [record] = [r for r in caplog.records if r.name == "pipeline.ingest"]
    line = json.loads(JsonFormatter().format(record))
    assert line["severity"] == "ERROR" and line["reason"] == reason
    assert line["message_id"] == bad.message_id


def test_an_event_with_a_field_of_an_unexpected_shape_is_stored_as_sent_and_warned_once(
    pipe, caplog
):
    session_id = unique("s")
    doc = envelope(
        "session.ended",
        {"final_status": "Failed", "fail_reason": {"code": "carrier"}, "fail_details": [1]},
        session_id=session_id,
    )
    msg = message(raw(doc), session_id=session_id)
    assert pipe.ingest(msg).outcome == "stored"
    assert pipe.ingest(msg).outcome == "duplicate"
    assert pipe.quarantine.list_quarantine() == []
    [stored] = pipe.events.load_events(session_id)
    assert stored.envelope() == doc  # kept exactly as sent
    assert stored.payload.final_status == "failed" and stored.payload.fail_reason is None
    [record] = [r for r in caplog.records if r.name == "pipeline.ingest"]
    line = json.loads(JsonFormatter().format(record))
    assert line["severity"] == "WARNING" and line["field"] == "data.fail_reason"
    assert line["session_id"] == session_id and line["event_id"] == doc["event_id"]
    assert line["expected"] == "text (or a number)"


def test_a_redelivered_event_is_a_duplicate(pipe):
    doc = handled_call(unique("s")).docs[0]
    msg = message(raw(doc))
    assert pipe.ingest(msg).outcome == "stored"
    assert pipe.ingest(msg).outcome == "duplicate"


def test_a_burst_of_200_events_into_one_session_is_absorbed(pipe):
    s = SessionScript(session_id=unique("burst"))
    s.at(0).add("session.created", {"session_type": "Voice inbound"})
    for n in range(198):
        s.at(1 + n * 0.01).add("stream.realtime_transcript", {"lines": [{"text": f"w{n}"}]})
    s.at(3).add("session.ended", {"final_status": "finished"})
    bodies = [raw(d) for d in reversed(s.docs)]
    before = pipe.counts.writes
    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(
            pool.map(
                lambda b: pipe.ingest(message(b)),
                bodies,
            )
        )
    assert {o.outcome for o in outcomes} == {"stored"}
    assert len(pipe.events.load_events(s.session_id)) == 200
    writes = pipe.counts.writes - before
    assert writes <= 200 + 3, writes
    doc = pipe.probe.session_doc(s.session_id)
    assert doc["end_at"] == s.start + timedelta(seconds=3)
