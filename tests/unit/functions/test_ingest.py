"""Contract of the ``ingest`` function: 200 for stored, duplicate and rejected; 500 to retry."""

from __future__ import annotations

import pytest

from tests.fakes import FakeEvents, FakePublisher, FakeQuarantine, FakeSchedule
from tests.unit.functions.conftest import deliver, handed_out


@pytest.fixture
def ports(monkeypatch: pytest.MonkeyPatch) -> dict:
    fakes = {
        "events": FakeEvents(),
        "schedule": FakeSchedule(),
        "quarantine": FakeQuarantine(),
        "publisher": FakePublisher(),
    }
    return handed_out(monkeypatch, fakes)


def test_a_valid_event_is_stored_and_acknowledged(client, ports):
    app = client("ingest")
    assert deliver(app, "ingest_session_created").status_code == 200
    [event] = ports["events"].load_events("12345")
    assert event.type == "session.created"
    assert ports["schedule"].schedule("12345").pending
    assert deliver(app, "ingest_session_created").status_code == 200  # a redelivery
    assert len(ports["events"].load_events("12345")) == 1


def test_a_malformed_message_is_quarantined_and_acknowledged(client, ports):
    response = deliver(client("ingest"), "ingest_not_json")
    assert response.status_code == 200
    [kept] = ports["quarantine"].list_quarantine()
    assert (kept.id, kept.reason, kept.raw) == ("1002", "not_json", b"{not json")


def test_a_failing_store_answers_500_so_that_pub_sub_redelivers(client, ports):
    ports["events"].fail_next("add_event", ConnectionError("firestore unavailable"))
    response = deliver(client("ingest"), "ingest_session_created")
    assert response.status_code == 500
    assert ports["events"].load_events("12345") == []
