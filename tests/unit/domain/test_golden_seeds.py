"""Golden tests written from the seeds: what the platform sends -> what the files say.

Seed 001 (data stream): every item, with the seed's example values, reaches the
datastream file unchanged and in order. Seed 002 (metadata): sessions whose
events carry the seed's example values give a file with those values under the
spec's keys; every session type and status of its tables is accepted. The
fixtures under ``tests/golden/`` are the envelopes as the platform would send them.
"""

from __future__ import annotations

import copy
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.domain.catalog import (
    CHAT_SESSION_TYPES,
    STATUS_CODES,
    STREAM_TYPES,
    VOICE_SESSION_TYPES,
)
from shared.domain.errors import BadInput
from shared.domain.events import StatusChanged, parse_envelope
from shared.domain.files import render_files
from shared.domain.metadata import validate_metadata
from shared.domain.stream import STREAM_PAYLOAD_MODELS
from tests.factory import AGENT, SessionScript

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
SEED_001 = json.loads((GOLDEN / "seed001_datastream.json").read_text(encoding="utf-8"))
SEED_002 = json.loads((GOLDEN / "seed002_sessions.json").read_text(encoding="utf-8"))
TABLES = json.loads((GOLDEN / "seed002_tables.json").read_text(encoding="utf-8"))
ISTANBUL = ZoneInfo(SEED_002["zone"])
PLUS7 = timezone(timedelta(hours=7))
SEED_TIME = "2023-09-11T09:42:01.000+03:00"


def metadata_of(
    envelopes: list[dict[str, Any]],
    *,
    updated_at: str = SEED_TIME,
    ticket: tuple[str | None, str | None] = (None, None),
) -> dict[str, Any]:
    """The metadata file of one session, once through JSON like a real write."""
    events = [parse_envelope(doc) for doc in envelopes]
    files = render_files(
        events[0].session_id,
        events,
        version=1,
        updated_at=datetime.fromisoformat(updated_at),
        zone=ISTANBUL,
        ticket=ticket,
    )
    metadata = json.loads(files.encoded()[0])
    validate_metadata(metadata)
    return metadata


# --- seed 001: the data stream ---------------------------------------------------------------


def test_seed_001_covers_every_stream_type_of_the_contract():
    assert {doc["type"] for doc in SEED_001["envelopes"]} == STREAM_TYPES
    assert STREAM_PAYLOAD_MODELS.keys() == STREAM_TYPES


@pytest.mark.parametrize("doc", SEED_001["envelopes"], ids=lambda d: d["type"])
def test_seed_001_item_parses_into_its_model_with_no_unknown_key(doc):
    event = parse_envelope(copy.deepcopy(doc))
    assert type(event.payload) is STREAM_PAYLOAD_MODELS[doc["type"]]
    # The fixture names every seed label with a field of the model: nothing lands in extras.
    assert not event.payload.model_extra, f"{doc['type']}: {event.payload.model_extra}"
    assert event.data == doc["data"]


def test_seed_001_stream_reaches_the_datastream_file_unchanged_and_in_order():
    envelopes = SEED_001["envelopes"]
    events = [parse_envelope(copy.deepcopy(doc)) for doc in envelopes]
    random.Random(1).shuffle(events)  # arrival order does not matter: sequence does
    files = render_files(
        "6800", events, version=1, updated_at=datetime(2024, 7, 5, 17, tzinfo=PLUS7), zone=PLUS7
    )
    written = json.loads(files.encoded()[1])
    assert written["id"] == "6800" and written["version"] == 1
    assert written["events"] == [
        {
            "event_id": doc["event_id"],
            "type": doc["type"],
            "name": doc["type"].removeprefix("stream."),
            "occurred_at": doc["occurred_at"],
            "sequence": doc["sequence"],
            "data": doc["data"],
        }
        for doc in envelopes
    ]


def test_seed_001_junk_values_are_kept_as_sent():
    by_type = {doc["type"]: doc for doc in SEED_001["envelopes"]}
    custom = parse_envelope(copy.deepcopy(by_type["stream.custom_data"]))
    assert custom.data["custom_data"]["purchaseDate"] == "Invalid DateTime"
    assert custom.data["custom_data"]["location"] == "Location not available"
    assert custom.data["custom_data"]["temperature"] == 70.5
    # The seed's "raw JSON" is not valid JSON: it stays a string.
    dap = parse_envelope(copy.deepcopy(by_type["stream.dap_api_response"]))
    assert dap.data["raw_json"].startswith('{\n"key": "zulu"')


# --- seed 002: the metadata file -------------------------------------------------------------


def _session_cases() -> list[tuple[str, str]]:
    return [
        (name, key) for name, session in SEED_002["sessions"].items() for key in session["expected"]
    ]


@pytest.fixture(scope="module")
def written() -> dict[str, dict[str, Any]]:
    return {
        name: metadata_of(
            session["envelopes"], updated_at=session["updated_at"], ticket=tuple(session["ticket"])
        )
        for name, session in SEED_002["sessions"].items()
    }


@pytest.mark.parametrize(("session", "key"), _session_cases(), ids=lambda v: v)
def test_seed_002_value_under_its_spec_key(written, session, key):
    expected = SEED_002["sessions"][session]["expected"][key]
    assert written[session][key] == expected


def _voicemail_envelopes() -> list[dict[str, Any]]:
    return copy.deepcopy(SEED_002["sessions"]["voicemail_12345"]["envelopes"])


def _replace_data(envelopes: list[dict[str, Any]], type_: str, **data: Any) -> None:
    for doc in envelopes:
        if doc["type"] == type_:
            doc["data"].update(data)


@pytest.mark.parametrize("permission", ["granted", "denied", "not_asked"])
def test_seed_002_recording_permission(permission):
    envelopes = _voicemail_envelopes()
    _replace_data(envelopes, "session.recording_permission", permission=permission)
    assert metadata_of(envelopes)["recording_permission"] == permission


@pytest.mark.parametrize("priority", range(1, 9))
def test_seed_002_queue_priority_1_to_8(priority):
    envelopes = _voicemail_envelopes()
    _replace_data(envelopes, "session.created", queue_priority=priority)
    assert metadata_of(envelopes)["queue_priority"] == priority


@pytest.mark.parametrize("rating", range(1, 5))
def test_seed_002_csat_rating_1_to_4(rating):
    envelopes = _voicemail_envelopes()
    _replace_data(envelopes, "session.csat", rating=rating)
    doc = metadata_of(envelopes)
    assert (doc["rating"], doc["comment"], doc["has_feedback"]) == (
        rating,
        "Great job, I love my agent",
        True,
    )


def test_seed_002_a_transfer_starts_an_interaction_with_its_own_hold_time():
    """Row "Hold duration": after a transfer out, the next interaction tracks its own hold."""
    envelopes = _voicemail_envelopes()
    after = next(i for i, d in enumerate(envelopes) if d["type"] == "session.transfer_completed")
    hold = [
        {**envelopes[after], "event_id": f"hold-{n}", "type": type_, "occurred_at": at, "data": {}}
        for n, (type_, at) in enumerate(
            [
                ("session.hold_started", "2023-09-11T09:44:10.000+03:00"),
                ("session.hold_ended", "2023-09-11T09:44:17.000+03:00"),
            ]
        )
    ]
    envelopes[after + 1 : after + 1] = hold
    for n, doc in enumerate(envelopes):
        doc["sequence"] = n
    doc = metadata_of(envelopes)
    assert (doc["hold_durations"], doc["hold_duration"]) == ([23, 7], 30)


def test_seed_002_virtual_agent_answer_type():
    """Rows ``va_assigned`` / ``va_connected``: the virtual agent answers."""
    s = SessionScript(session_id="12348", with_sequence=True)
    s.at(0).add("session.created", {"session_type": "Messaging (Web)", "lang": "en"})
    s.at(1).status("va_assigned", 13, agent={"id": "va1", "name": "Returnsbot"})
    s.at(2).status("va_connected", 14)
    s.at(60).add("session.ended", {"final_status": "finished", "disconnected_by": "virtual_agent"})
    doc = metadata_of(s.docs)
    assert doc["answer_type"] == "virtual" and doc["assigned_at"] == "2023-09-11T09:42:02.000+03:00"
    assert doc["connected_at"] == "2023-09-11T09:42:03.000+03:00"


def test_seed_002_tables_are_the_catalog():
    types = TABLES["session_types"]
    assert tuple(t for t, channel in types.items() if channel == "voice") == VOICE_SESSION_TYPES
    assert tuple(t for t, channel in types.items() if channel == "chat") == CHAT_SESSION_TYPES
    assert TABLES["statuses"] == STATUS_CODES


@pytest.mark.parametrize(("session_type", "channel"), TABLES["session_types"].items())
def test_seed_002_every_session_type(session_type, channel):
    s = SessionScript(session_id="12345", channel=channel, with_sequence=True)
    s.at(0).add("session.created", {"session_type": session_type, "lang": "en"})
    s.at(30).add("session.ended", {"final_status": "finished", "disconnected_by": "end_user"})
    doc = metadata_of(s.docs)
    assert doc["channel"] == channel
    kept, other = ("chat_type", "call_type") if channel == "chat" else ("call_type", "chat_type")
    assert (doc[kept], doc[other]) == (session_type, None)


@pytest.mark.parametrize(("status", "code"), TABLES["statuses"].items())
def test_seed_002_every_status_pair_parses_and_no_other(status, code):
    s = SessionScript(with_sequence=True).status(status, code)
    event = parse_envelope(s.docs[0])
    assert isinstance(event.payload, StatusChanged)
    assert (event.payload.status, event.payload.status_code) == (status, code)
    off = SessionScript(with_sequence=True).status(status, code + 100)
    with pytest.raises(BadInput) as caught:
        parse_envelope(off.docs[0])
    assert caught.value.reason == "status_mismatch"


@pytest.mark.parametrize(
    "final_status", ["finished", "failed", "recovered", "deflected", "voicemail_received"]
)
def test_seed_002_final_status_maps_to_its_code(final_status):
    s = SessionScript(with_sequence=True)
    s.at(0).add("session.created", {"session_type": "Voice inbound", "lang": "en"})
    s.at(5).status("assigned", 2, agent=AGENT)
    s.at(90).add("session.ended", {"final_status": final_status, "disconnected_by": "system"})
    doc = metadata_of(s.docs)
    assert (doc["status"], doc["status_code"]) == (final_status, TABLES["statuses"][final_status])
