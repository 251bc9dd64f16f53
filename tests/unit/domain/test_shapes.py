"""Shapes real producers send: each one is placed and applied, never quarantined.

Every case below used to cost its whole event (quarantined as ``invalid_field`` or
``missing_field``). The contract's "Shapes a producer really sends" makes most of
them plain input (an agent as a bare id, ids and numbers as text, enumerated values
in the seeds' spelling); the rest are "a payload field of an unexpected shape": the
event is applied, kept as sent, and only that field is left out of the file, named
in ``Event.issues`` (which ingest logs as one warning line per field).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.domain.events import parse_event
from shared.domain.files import render_files
from shared.domain.metadata import validate_metadata
from tests.factory import AGENT, MENU, SessionScript, raw

WRITTEN = datetime(2023, 9, 11, 8, tzinfo=UTC)
Doc = dict[str, Any]


def call(extra: Callable[[SessionScript], None], *, channel: str = "voice") -> SessionScript:
    """A handled session around the odd event(s) ``extra`` adds at +100 s."""
    s = SessionScript(channel=channel)
    session_type = "Messaging (Web)" if channel == "chat" else "Voice inbound"
    s.at(0).add("session.created", {"session_type": session_type, "lang": "en", "menu": MENU})
    s.at(10).status("queued", 1, queue={"id": "6205", "name": "Billing"})
    s.at(40).status("assigned", 2, agent=AGENT)
    s.at(45).status("connected", 5)
    s.at(100)
    extra(s)
    s.at(200).add("session.ended", {"final_status": "finished", "disconnected_by": "agent"})
    return s


def metadata(s: SessionScript) -> Doc:
    events = [parse_event(raw(doc)) for doc in s.docs]
    files = render_files(s.session_id, events, version=1, updated_at=WRITTEN, zone=UTC)
    validate_metadata(files.metadata)
    return files.metadata


@dataclass(frozen=True)
class Shape:
    name: str
    type: str
    data: Doc
    check: Callable[[Doc], bool]  # on the metadata file
    left_out: list[str] = field(default_factory=list)  # fields named in the event's issues
    channel: str = "voice"


def _add(shape: Shape) -> Callable[[SessionScript], None]:
    return lambda s: s.add(shape.type, shape.data)


def transfer(**data: Any) -> Doc:
    return {"transfer_id": "t-1", **data}


SHAPES = [
    # Agents: an object or a bare id, wherever a payload names one.
    Shape(
        "transfer from.agent as an object",
        "session.transfer_started",
        transfer(**{"from": {"agent": {"id": 101, "name": "Noam B"}}, "to": {"menu_path": "1/2"}}),
        lambda d: d["transfers"][0]["from"] == {"agent": {"id": 101, "name": "Noam B"}},
    ),
    Shape(
        "transfer to.agent as an object",
        "session.transfer_completed",
        transfer(to={"agent": {"id": "102", "name": "Dana K"}}),
        lambda d: (
            d["transfers"][0]["status"] == "completed"
            and d["transfers"][0]["to"]["agent"]["name"] == "Dana K"
        ),
    ),
    Shape(
        "transfer from.agent as a number",
        "session.transfer_started",
        transfer(**{"from": {"agent": 101}}),
        lambda d: d["transfers"][0]["from"] == {"agent": 101},
    ),
    Shape(
        "transfer menu_path as a list of ids",
        "session.transfer_started",
        transfer(to={"menu_path": [2420, 4563, 7001]}),
        lambda d: d["transfers"][0]["to"] == {"menu_path": "2420/4563/7001"},
    ),
    Shape(
        "transfer_failed reason as an object",
        "session.transfer_failed",
        transfer(reason={"code": "no_answer"}),
        lambda d: (
            d["transfers"][0]["status"] == "failed" and d["transfers"][0]["fail_reason"] is None
        ),
        ["data.reason"],
    ),
    Shape(
        "transfer_id as a number",
        "session.transfer_started",
        {"transfer_id": 7},
        lambda d: d["transfers"][0]["id"] == "7",
    ),
    Shape(
        "status agent as a bare id",
        "session.status_changed",
        {"status": "assigned", "status_code": 2, "agent": "a9"},
        lambda d: (
            d["agent_info"] == {"id": "a9", "name": None, "first_name": None, "last_name": None}
        ),
    ),
    Shape(
        "hold agent as a bare id",
        "session.hold_started",
        {"agent": "a1"},
        lambda d: d["hold_duration"] == 100,  # open until the end at +200 s
    ),
    Shape(
        "hold_ended agent as a number",
        "session.hold_ended",
        {"agent": 101},
        lambda d: d["hold_duration"] == 0,
    ),
    Shape(
        "wrap_up_ended agent as a bare id",
        "session.wrap_up_ended",
        {"agent": "a1"},
        lambda d: d["call_duration"] == 160,  # the end (+200 s) is later than the wrap-up
    ),
    Shape(
        "wrap_up_started agent as a number",
        "session.wrap_up_started",
        {"agent": 101},
        lambda d: d["event_count"] == 6,
    ),
    Shape(
        "disposition agent as a bare id",
        "session.disposition",
        {"code": "Resolved", "agent": "a1"},
        lambda d: d["disposition"]["agent"] == {"id": "a1", "name": None},
    ),
    # Ids and numbers as text or numbers.
    Shape(
        "disposition code and ids as numbers",
        "session.disposition",
        {"code": 3, "custom_code_id": 123, "platform_list_id": 3},
        lambda d: (d["disposition"]["code"], d["disposition"]["custom_code_id"]) == ("3", "123"),
    ),
    Shape(
        "queue id as a number, status code as text",
        "session.status_changed",
        {"status": "queued", "status_code": "1", "queue": {"id": 7001, "name": "Orders"}},
        lambda d: d["queue"] == {"id": "7001", "name": "Orders", "path": None},
    ),
    Shape(
        "csat rating as text",
        "session.csat",
        {"rating": "3", "comment": "fine"},
        lambda d: (d["rating"], d["has_feedback"]) == (3, True),
    ),
    Shape(
        "smart action count as text, action in another case",
        "session.smart_action",
        {"action": "Photo", "status": "Uploaded", "count": "2"},
        lambda d: (d["smart_actions"]["photos"], d["photos"]) == ("uploaded", 2),
    ),
    # Enumerated values in the seeds' spelling.
    Shape(
        'recording permission "not asked"',
        "session.recording_permission",
        {"permission": "not asked"},
        lambda d: d["recording_permission"] == "not_asked",
    ),
    Shape(
        'recording permission "Granted"',
        "session.recording_permission",
        {"permission": "Granted"},
        lambda d: d["recording_permission"] == "granted",
    ),
    Shape(
        'recording permission "Not-Asked"',
        "session.recording_permission",
        {"permission": "Not-Asked"},
        lambda d: d["recording_permission"] == "not_asked",
    ),
    Shape(
        "status name in another case",
        "session.status_changed",
        {"status": "VA Assigned", "status_code": 13, "agent": {"id": "va1", "name": "Bot"}},
        lambda d: d["agent_info"]["name"] == "Bot",
    ),
    Shape(
        'sms kind "In Call"',
        "session.sms",
        {"kind": "In Call", "direction": "Outbound"},
        lambda d: d["in_call_sms"] == 1,
    ),
    Shape(
        'chat sender "End-User"',
        "chat.message",
        {"sender": "End-User", "message_id": "m1", "text": "hi"},
        lambda d: (d["message_count"], d["end_user_message_count"]) == (1, 1),
        channel="chat",
    ),
    Shape(
        "participant as a bare id, type in another case",
        "session.participant_joined",
        {"participant": "p-7"},
        lambda d: d["participants"][0]["id"] == "p-7",
    ),
    Shape(
        "participant type capitalised",
        "session.participant_joined",
        {"participant": {"id": 5, "type": "Virtual Agent"}},
        lambda d: d["participants"][0]["type"] == "virtual_agent",
    ),
    # A field of an unexpected shape: the event is applied, that field left out.
    Shape(
        "status reason as an object",
        "session.status_changed",
        {"status": "switching", "status_code": 4, "reason": {"code": "x"}},
        lambda d: d["event_count"] == 6,
        ["data.reason"],
    ),
    Shape(
        "chat message text as an object",
        "chat.message",
        {"sender": "end_user", "message_id": "m1", "text": {"body": "hi"}},
        lambda d: d["message_count"] == 1 and d["end_user_message_count"] == 1,
        ["data.text"],
        channel="chat",
    ),
    Shape(
        "csat rating off the scale",
        "session.csat",
        {"rating": 9, "comment": "!"},
        lambda d: (d["rating"], d["has_feedback"]) == (None, False) and d["event_count"] == 6,
        ["data.rating"],
    ),
    Shape(
        "deflection as an object",
        "session.deflected",
        {"deflection": {"kind": "voicemail"}, "channel": "ivr"},
        lambda d: d["deflection"] is None and len(d["deflection_details"]) == 1,
        ["data.deflection"],
    ),
    Shape(
        "sms kind outside its set",
        "session.sms",
        {"kind": "mms"},
        lambda d: d["in_call_sms"] == 0 and d["event_count"] == 6,
        ["data.kind"],
    ),
    Shape(
        "disposition agent as a list",
        "session.disposition",
        {"code": "Resolved", "agent": ["a1"]},
        lambda d: d["disposition"]["code"] == "Resolved" and d["disposition"]["agent"] is None,
        ["data.agent"],
    ),
]


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
def test_the_shape_is_placed_applied_and_only_its_odd_field_left_out(shape: Shape):
    s = call(_add(shape), channel=shape.channel)
    odd = parse_event(raw(s.docs[4]))
    assert odd.data == shape.data  # kept exactly as sent
    assert [issue.field for issue in odd.issues] == shape.left_out
    doc = metadata(s)
    assert doc["event_count"] == len(s.docs)
    assert shape.check(doc), doc


CREATED_SHAPES = [
    ("device as an object", {"device": {"os": "iOS", "version": "17.3.1"}}, []),
    ("menu.path as a list", {"menu": {**MENU, "path": ["2420", "4563", "6205"]}}, []),
    ("menu.path_names as one text", {"menu": {**MENU, "path_names": "Support/Billing"}}, []),
    ("queue_priority as text", {"queue_priority": "3"}, []),
    ("session type in another case", {"session_type": "voice INBOUND"}, []),
    ("end_user as a bare id", {"end_user": 881}, []),
    ("scheduled_at that does not parse", {"scheduled_at": "tomorrow"}, ["data.scheduled_at"]),
    ("lang as an object", {"lang": {"code": "en"}}, ["data.lang"]),
    ("campaign mode in another case", {"campaign": {"id": 1, "mode": "Preview"}}, []),
]


@pytest.mark.parametrize(("name", "change", "left_out"), CREATED_SHAPES, ids=lambda v: v)
def test_session_created_keeps_type_language_menu_and_end_user(name, change, left_out):
    s = SessionScript()
    data = {
        "session_type": "Voice inbound",
        "lang": "en",
        "menu": MENU,
        "end_user": {"id": "u1", "identifier": "c1"},
        **change,
    }
    s.at(0).add("session.created", data)
    s.at(60).add("session.ended", {"final_status": "finished", "disconnected_by": "end_user"})
    assert [i.field for i in parse_event(raw(s.docs[0])).issues] == left_out
    doc = metadata(s)
    assert doc["call_type"] == "Voice inbound"
    assert doc["lang"] == (None if "lang" in change else "en")
    assert doc["menu_path"]["id"] == "2420/4563/6205"
    assert doc["end_user"]["id"] == ("881" if name == "end_user as a bare id" else "u1")
    if name == "menu.path_names as one text":
        assert doc["menu_path"]["name"] == "Billing"


def test_an_end_with_fail_reason_as_an_object_still_ends_the_session():
    s = call(lambda s: None)
    s.docs[-1]["data"] = {
        "final_status": "Failed",
        "disconnected_by": "System",
        "fail_reason": {"code": "carrier", "message": "SIP 503"},
        "fail_details": {"sip": 503},
    }
    event = parse_event(raw(s.docs[-1]))
    assert [str(i) for i in event.issues] == ["data.fail_reason: expected text (or a number)"]
    doc = metadata(s)
    assert (doc["status"], doc["status_code"], doc["fail_reason"]) == ("failed", 9, None)
    assert doc["fail_details"] == {"sip": 503} and doc["disconnected_by"] == "system"
    assert doc["ends_at"] == "2023-09-11T06:45:21.000+00:00"
    assert doc["call_duration"] == 160


def test_an_end_whose_final_status_is_left_out_reports_the_last_final_status_reached():
    s = call(lambda s: s.status("failed", 9))
    s.docs[-1]["data"] = {"final_status": {"x": 1}}
    doc = metadata(s)
    assert (doc["status"], doc["status_code"], doc["fail_reason"]) == ("failed", 9, None)


def test_data_that_is_not_an_object_is_kept_and_reported():
    s = SessionScript()
    s.add("stream.custom_data", {"x": 1})
    s.docs[0]["data"] = ["not", "an", "object"]
    event = parse_event(raw(s.docs[0]))
    assert event.data == ["not", "an", "object"]
    assert [str(i) for i in event.issues] == ["data: expected an object"]
