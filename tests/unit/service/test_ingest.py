"""The ingest use case on in-memory fakes: store once, schedule, quarantine, CRM jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.config import Settings
from shared.crm.settings import CrmSettings
from shared.ports import PubsubMessage
from shared.service.ingest import IngestResult, ingest_message
from tests.factory import envelope, handled_call, raw
from tests.fakes import FakeEvents, FakePublisher, FakeQuarantine, FakeSchedule

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SETTINGS = Settings()


class Ports:
    def __init__(self, settings: Settings = SETTINGS) -> None:
        self.settings = settings
        self.events = FakeEvents()
        self.schedule = FakeSchedule()
        self.quarantine = FakeQuarantine()
        self.publisher = FakePublisher()
        self.sent = 0

    def ingest(self, body: bytes, message_id: str | None = None, **attrs: str) -> IngestResult:
        self.sent += 1
        message = PubsubMessage(body, message_id or f"m{self.sent}", dict(attrs))
        return ingest_message(
            message,
            events=self.events,
            schedule=self.schedule,
            quarantine=self.quarantine,
            settings=self.settings,
            publisher=self.publisher,
            clock=lambda: NOW,
        )


@pytest.fixture
def ports() -> Ports:
    return Ports()


def crm_ports(kind: str) -> Ports:
    return Ports(Settings(crm=CrmSettings(kind=kind, base_url="https://crm.example")))


def test_an_event_is_stored_and_its_session_scheduled_stuck_timeout_early(ports):
    script = handled_call("s1")
    result = ports.ingest(raw(script.docs[0]))
    assert result == IngestResult("stored", "s1")
    [event] = ports.events.load_events("s1")
    assert event.event_id == script.docs[0]["event_id"]
    schedule = ports.schedule.schedule("s1")
    assert schedule.pending and schedule.end_at is None
    assert schedule.due_at < event.occurred_at + SETTINGS.stuck_timeout  # provisional, early


def test_the_end_makes_the_session_due_the_finalize_delay_after_it(ports):
    script = handled_call("s1")
    for doc in script.docs:
        ports.ingest(raw(doc))
    ended = next(e for e in ports.events.load_events("s1") if e.type == "session.ended")
    assert ports.schedule.schedule("s1").due_at == ended.occurred_at + SETTINGS.finalize_delay
    assert len(ports.events.load_events("s1")) == len(script.docs)


def test_a_redelivered_event_is_a_duplicate_and_changes_nothing(ports):
    body = raw(handled_call("s1").docs[0])
    assert ports.ingest(body, "m1").outcome == "stored"
    before = ports.schedule.schedule("s1")
    assert ports.ingest(body, "m1").outcome == "duplicate"
    assert ports.schedule.schedule("s1") == before
    assert len(ports.events.load_events("s1")) == 1


def test_bad_input_is_quarantined_whole_and_acknowledged(ports):
    body = b"{not json"
    result = ports.ingest(body, "bad-1", session_id="s9", type="session.created")
    assert result == IngestResult("quarantined", "s9", "not_json")
    [kept] = ports.quarantine.list_quarantine()
    assert (kept.id, kept.raw, kept.reason, kept.received_at) == ("bad-1", body, "not_json", NOW)
    assert kept.attributes == {"session_id": "s9", "type": "session.created"}
    assert ports.events.by_session == {} and ports.schedule.docs == {}


def test_a_redelivered_bad_message_keeps_its_first_record_and_replay_mark(ports):
    ports.ingest(b"[]", "bad-1")
    ports.quarantine.mark_replayed("bad-1", "new-1")
    assert ports.ingest(b"[]", "bad-1").outcome == "quarantined"
    assert ports.quarantine.get_quarantine("bad-1").replayed_as == "new-1"


def test_each_rule_broken_is_named_as_the_reason(ports):
    missing_type = {k: v for k, v in envelope("session.created").items() if k != "type"}
    assert ports.ingest(raw(missing_type)).reason == "missing_field"
    assert ports.ingest(raw(envelope("session.exploded"))).reason == "unknown_type"
    late = {**envelope("session.created"), "occurred_at": "11/09/2023 09:42"}
    assert ports.ingest(raw(late)).reason == "bad_timestamp"


def test_a_crm_moment_publishes_a_job_for_the_configured_crm():
    ports = crm_ports("zendesk")
    script = handled_call("s1")
    for doc in script.docs:
        ports.ingest(raw(doc))
    jobs = ports.publisher.on(ports.settings.crm_jobs_topic)
    assert [j["trigger"] for j in jobs] == ["assigned", "connected", "ended"]
    assert {j["session_id"] for j in jobs} == {"s1"}
    assert all(j["published_at"] == NOW.isoformat() for j in jobs)
    assert {m.attributes["session_id"] for m in ports.publisher.messages} == {"s1"}


def test_a_duplicate_publishes_its_job_again_in_case_the_first_delivery_died_before():
    ports = crm_ports("zendesk")
    assigned = next(d for d in handled_call("s1").docs if d["data"].get("status") == "assigned")
    ports.ingest(raw(assigned), "m1")
    assert ports.ingest(raw(assigned), "m1").outcome == "duplicate"
    assert [j["trigger"] for j in ports.publisher.on(ports.settings.crm_jobs_topic)] == [
        "assigned",
        "assigned",
    ]


@pytest.mark.parametrize("kind", ["none", "webhook"])
def test_no_job_is_published_without_a_record_crm(kind):
    ports = crm_ports(kind)
    for doc in handled_call("s1").docs:
        ports.ingest(raw(doc))
    assert ports.publisher.messages == []


def test_a_failing_store_raises_so_that_pub_sub_redelivers_and_the_retry_completes(ports):
    body = raw(handled_call("s1").docs[-1])
    ports.schedule.fail_next("note_event", ConnectionError("firestore unavailable"))
    with pytest.raises(ConnectionError):
        ports.ingest(body, "m1")
    assert ports.schedule.schedule("s1") is None  # the event is stored, not yet scheduled
    assert ports.ingest(body, "m1").outcome == "duplicate"
    assert ports.schedule.schedule("s1").pending


def test_an_event_after_the_write_owes_a_rewrite_a_finalize_delay_after_it(ports):
    script = handled_call("s1")
    for doc in script.docs:
        ports.ingest(raw(doc))
    due = ports.schedule.schedule("s1").due_at
    claim = ports.schedule.claim("s1", due, timedelta(minutes=2))
    ports.schedule.complete(claim, version=1, generation=1, content_hash="h")
    assert not ports.schedule.schedule("s1").pending
    script.at(2000).add("session.csat", {"rating": 4})
    ports.ingest(raw(script.docs[-1]))
    schedule = ports.schedule.schedule("s1")
    assert schedule.pending and schedule.due_at == script.last_at + SETTINGS.finalize_delay
