"""Every bad-input rule of the input contract is refused with its reason; good input is kept."""

from __future__ import annotations

import json

import pytest

from shared.domain.errors import BadInput
from shared.domain.events import MAX_PAYLOAD_BYTES, parse_event
from tests.factory import envelope, raw


def reason_of(body: bytes) -> str:
    with pytest.raises(BadInput) as caught:
        parse_event(body)
    return caught.value.reason


def test_a_contract_envelope_parses_with_its_typed_payload():
    event = parse_event(raw(envelope("session.created", {"session_type": "Voice inbound"})))
    assert event.session_id == "12345"
    assert event.payload.session_type == "Voice inbound"
    assert event.occurred_at.utcoffset().total_seconds() == 3 * 3600


def test_unknown_extra_keys_of_data_are_kept():
    doc = envelope("session.csat", {"rating": 4, "survey": {"q": 1}})
    event = parse_event(raw(doc))
    assert event.data["survey"] == {"q": 1}
    assert event.payload.model_extra["survey"] == {"q": 1}


def test_not_json_is_refused():
    assert reason_of(b"{not json") == "not_json"
    assert reason_of(b"\xff\xfe") == "not_json"
    assert reason_of(b"[1, 2]") == "not_json"


@pytest.mark.parametrize(
    "field", ["event_id", "session_id", "channel", "type", "occurred_at", "data", "spec"]
)
def test_a_missing_required_field_is_refused(field):
    doc = envelope("session.ended", {"final_status": "finished"})
    del doc[field]
    with pytest.raises(BadInput) as caught:
        parse_event(raw(doc))
    assert caught.value.reason == "missing_field"
    assert field in caught.value.detail


def test_a_missing_required_payload_field_is_refused():
    doc = envelope("session.status_changed", {"status_code": 1})
    with pytest.raises(BadInput) as caught:
        parse_event(raw(doc))
    assert caught.value.reason == "missing_field"
    assert "status" in caught.value.detail


def test_an_unknown_spec_is_refused_as_unsupported():
    doc = envelope("session.created", {"session_type": "Voice inbound"})
    doc["spec"] = "session-event/v2"
    assert reason_of(raw(doc)) == "unsupported_spec"


def test_an_unknown_type_is_refused():
    assert reason_of(raw(envelope("session.teleported"))) == "unknown_type"
    assert reason_of(raw(envelope("stream.not_a_stream_item"))) == "unknown_type"


@pytest.mark.parametrize(
    ("status", "code"), [("queued", 2), ("assigned", 1), ("on_the_moon", 1), ("voicemail", 81)]
)
def test_a_status_pair_off_the_table_is_refused(status, code):
    doc = envelope("session.status_changed", {"status": status, "status_code": code})
    assert reason_of(raw(doc)) == "status_mismatch"


@pytest.mark.parametrize(
    "stamp", ["yesterday", "2023-09-11", "2023-09-11T09:42:01", "2023-13-11T09:42:01Z", 1694414521]
)
def test_a_timestamp_that_does_not_parse_is_refused(stamp):
    doc = envelope("session.created", {"session_type": "Voice inbound"})
    doc["occurred_at"] = stamp
    assert reason_of(raw(doc)) == "bad_timestamp"


def test_a_payload_over_one_mebibyte_is_refused():
    doc = envelope("stream.customer_text_note", {"text": "x" * MAX_PAYLOAD_BYTES})
    assert reason_of(raw(doc)) == "payload_too_large"


def test_a_payload_just_under_the_limit_is_accepted():
    doc = envelope("stream.customer_text_note", {"text": ""})
    room = MAX_PAYLOAD_BYTES - len(raw(doc))
    doc["data"]["text"] = "x" * room
    assert len(raw(doc)) == MAX_PAYLOAD_BYTES
    assert parse_event(raw(doc)).data["text"] == "x" * room


@pytest.mark.parametrize(
    ("field", "value"),
    [("session_id", "has space"), ("session_id", "x" * 65), ("event_id", ""), ("channel", "fax")],
)
def test_envelope_fields_out_of_their_domain_are_refused(field, value):
    doc = envelope("session.created", {"session_type": "Voice inbound"})
    doc[field] = value
    assert reason_of(raw(doc)) in ("invalid_field", "missing_field")


def test_junk_values_in_stream_items_are_kept_as_given():
    doc = envelope(
        "stream.custom_data",
        {"purchaseDate": "Invalid DateTime", "location": "Location not available"},
    )
    event = parse_event(raw(doc))
    assert event.data == {"purchaseDate": "Invalid DateTime", "location": "Location not available"}


def test_sequence_must_be_a_non_negative_integer():
    doc = envelope("session.created", {"session_type": "Voice inbound"}, sequence=-1)
    assert reason_of(raw(doc)) == "invalid_field"
    doc["sequence"] = 3
    assert parse_event(json.dumps(doc).encode()).sequence == 3


def test_a_stream_item_with_an_unexpected_field_type_is_kept_not_refused():
    doc = envelope("stream.custom_data", {"custom_data": "junk instead of a map"})
    assert parse_event(raw(doc)).data == {"custom_data": "junk instead of a map"}


def test_unknown_extra_keys_named_like_times_are_kept_as_sent():
    doc = envelope("session.csat", {"rating": 3, "rated_at": "soon"})
    assert parse_event(raw(doc)).data["rated_at"] == "soon"


@pytest.mark.parametrize("value", [1694414400, "next week", "2023-W37-1T10:00:00Z"])
def test_a_known_payload_time_that_is_not_rfc3339_is_refused(value):
    doc = envelope("session.created", {"session_type": "Voice inbound", "scheduled_at": value})
    assert reason_of(raw(doc)) == "bad_timestamp"
