"""Every bad-input rule of the input contract is refused with its reason; the rest is placed."""

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


@pytest.mark.parametrize("field", ["event_id", "session_id", "type", "occurred_at", "spec"])
def test_a_missing_placing_field_is_refused(field):
    doc = envelope("session.ended", {"final_status": "finished"})
    del doc[field]
    with pytest.raises(BadInput) as caught:
        parse_event(raw(doc))
    assert caught.value.reason == "missing_field"
    assert field in caught.value.detail


@pytest.mark.parametrize("field", ["channel", "data"])
def test_an_envelope_without_channel_or_data_is_still_placed(field):
    """The spec places an event by spec, event_id, session_id, type and occurred_at."""
    doc = envelope("session.ended", {"final_status": "finished"})
    del doc[field]
    event = parse_event(raw(doc))
    assert event.session_id == "12345" and event.type == "session.ended"
    assert [issue.field for issue in event.issues] == ([] if field == "data" else ["channel"])


def test_a_status_change_with_one_half_of_the_pair_names_the_status():
    only_code = parse_event(raw(envelope("session.status_changed", {"status_code": "1"})))
    assert (only_code.payload.status, only_code.payload.status_code) == ("queued", 1)
    only_name = parse_event(raw(envelope("session.status_changed", {"status": "Queued"})))
    assert (only_name.payload.status, only_name.payload.status_code) == ("queued", 1)


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
    [
        ("session_id", "has space"),
        ("session_id", "x" * 65),
        ("session_id", 12345),
        ("event_id", ""),
    ],
)
def test_an_envelope_id_that_cannot_place_the_event_is_refused(field, value):
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


def test_a_sequence_that_is_not_a_non_negative_integer_is_left_out():
    doc = envelope("session.created", {"session_type": "Voice inbound"}, sequence=-1)
    event = parse_event(raw(doc))
    assert event.sequence is None and [str(i) for i in event.issues] == [
        "sequence: expected an integer >= 0"
    ]
    doc["sequence"] = 3
    assert parse_event(json.dumps(doc).encode()).sequence == 3
    doc["sequence"] = "3"  # numbers may come as text
    assert parse_event(json.dumps(doc).encode()).sequence == 3


def test_a_channel_in_another_spelling_is_read_and_junk_is_left_out():
    doc = envelope("session.created", {"session_type": "Voice inbound"}, channel="Voice")
    assert parse_event(raw(doc)).channel == "voice"
    doc["channel"] = "fax"
    event = parse_event(raw(doc))
    assert event.channel is None and [i.field for i in event.issues] == ["channel"]


def test_a_stream_item_with_an_unexpected_field_type_is_kept_not_refused():
    doc = envelope("stream.custom_data", {"custom_data": "junk instead of a map"})
    assert parse_event(raw(doc)).data == {"custom_data": "junk instead of a map"}


def test_unknown_extra_keys_named_like_times_are_kept_as_sent():
    doc = envelope("session.csat", {"rating": 3, "rated_at": "soon"})
    assert parse_event(raw(doc)).data["rated_at"] == "soon"


@pytest.mark.parametrize("value", [1694414400, "next week", "2023-W37-1T10:00:00Z"])
def test_a_known_payload_time_that_is_not_rfc3339_is_left_out_not_refused(value):
    doc = envelope("session.created", {"session_type": "Voice inbound", "scheduled_at": value})
    event = parse_event(raw(doc))
    assert event.payload.scheduled_at is None and event.payload.session_type == "Voice inbound"
    assert [i.field for i in event.issues] == ["data.scheduled_at"]
    assert event.data["scheduled_at"] == value  # kept as sent


# Every timestamp form docs/files.md names, accepted or refused.
ACCEPTED_STAMPS = [
    "2023-09-11T09:42:01+03:00",
    "2023-09-11T09:42:01.000+03:00",
    "2023-09-11T09:42:01.123456789-04:30",  # any number of decimals
    "2023-09-11T09:42:01Z",
    "2023-09-11t09:42:01z",
    "2023-09-11 09:42:01.5+00:00",  # a space for the T
]
REFUSED_STAMPS = [
    "2023-09-11T09:42:01",  # no offset
    "2023-09-11",  # a date alone
    "2023-09-11T09:42+03:00",  # minutes without seconds
    "2023-09-11T09:42:01+0300",  # an offset without its colon
    "2023-W37-1T10:00:00Z",  # a week date
    1694414521,  # a number
    "2023-02-30T09:42:01Z",  # an impossible date
    "11/09/2023 09:42:01",
]


@pytest.mark.parametrize("stamp", ACCEPTED_STAMPS)
def test_a_documented_timestamp_form_is_accepted(stamp):
    doc = envelope("session.created", {"session_type": "Voice inbound", "scheduled_at": stamp})
    doc["occurred_at"] = stamp
    event = parse_event(raw(doc))
    assert event.occurred_at.tzinfo is not None and event.issues == ()
    assert event.payload.scheduled_at == event.occurred_at


@pytest.mark.parametrize("stamp", REFUSED_STAMPS)
def test_a_documented_refused_timestamp_form_is_refused_as_occurred_at(stamp):
    doc = envelope("session.created", {"session_type": "Voice inbound"})
    doc["occurred_at"] = stamp
    assert reason_of(raw(doc)) == "bad_timestamp"


def test_the_envelope_is_stored_exactly_as_sent_unknown_top_level_keys_included():
    doc = envelope("session.created", {"session_type": "Voice inbound"})
    doc["occurred_at"] = "2023-09-11 09:42:01.5+03:00"
    doc["producer"] = {"name": "dialer", "version": 3}
    assert parse_event(raw(doc)).envelope() == doc


def test_an_empty_payload_of_every_lifecycle_type_is_placed():
    from shared.domain.catalog import LIFECYCLE_TYPES

    for type_ in sorted(LIFECYCLE_TYPES):
        event = parse_event(raw(envelope(type_, {})))
        assert event.type == type_ and event.issues == ()


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_python_only_constants_are_not_json(constant):
    body = raw(envelope("session.csat", {"rating": 4})).replace(
        b'"rating": 4', b'"rating": ' + constant
    )
    assert reason_of(body) == "not_json"


# The remaining forms docs/files.md ("Input") names, one case each.


@pytest.mark.parametrize("field", ["event_id", "session_id", "type", "occurred_at", "spec"])
def test_a_placing_field_that_is_json_null_counts_as_missing(field):
    doc = envelope("session.csat", {"rating": 4})
    doc[field] = None
    assert reason_of(raw(doc)) == "missing_field"


def test_a_wrong_spec_is_named_even_when_fields_are_missing():
    doc = envelope("session.csat", {"rating": 4}, event_id="e")
    doc["spec"] = "session-event/v2"
    del doc["event_id"], doc["type"]
    assert reason_of(raw(doc)) == "unsupported_spec"


def test_a_status_pair_with_neither_half_usable_changes_no_status():
    doc = envelope("session.status_changed", {"status": {"name": "queued"}, "status_code": [1]})
    event = parse_event(raw(doc))
    assert (event.payload.status, event.payload.status_code) == (None, None)
    assert [i.field for i in event.issues] == ["data.status", "data.status_code"]


@pytest.mark.parametrize(
    ("type_", "data", "read"),
    [
        ("session.created", {"menu": 6205}, lambda p: p.menu.id == "6205"),
        ("session.created", {"campaign": "c-1"}, lambda p: p.campaign.id == "c-1"),
        ("session.status_changed", {"status": "queued", "queue": 7}, lambda p: p.queue.id == "7"),
        ("session.csat", {"rating": 3.0}, lambda p: p.rating == 3),
        ("session.created", {"queue_priority": 8.0}, lambda p: p.queue_priority == 8),
        (
            "session.ended",
            {"disconnected_by": "End User"},
            lambda p: p.disconnected_by == "end_user",
        ),
        ("session.smart_action", {"status": "Not Verified"}, lambda p: p.status == "not_verified"),
    ],
)
def test_plain_input_shapes_are_read_without_a_warning(type_, data, read):
    event = parse_event(raw(envelope(type_, data)))
    assert event.issues == () and read(event.payload)


@pytest.mark.parametrize(
    ("type_", "data", "field"),
    [
        ("session.created", {"queue_priority": 9}, "data.queue_priority"),
        ("session.created", {"queue_priority": "first"}, "data.queue_priority"),
        ("session.csat", {"rating": 2.5}, "data.rating"),
        ("session.smart_action", {"action": "photo", "count": -1}, "data.count"),
        ("session.created", {"campaign": {"mode": "robocall"}}, "data.campaign.mode"),
        ("session.recording_permission", {"permission": True}, "data.permission"),
    ],
)
def test_a_value_outside_its_range_or_set_is_left_out_with_its_name(type_, data, field):
    event = parse_event(raw(envelope(type_, data)))
    assert [i.field for i in event.issues] == [field]
