"""Envelopes for tests, written from the input contract."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.domain.events import Event, parse_event

T0 = datetime.fromisoformat("2023-09-11T09:42:01.000+03:00")


def envelope(
    type_: str,
    data: dict[str, Any] | None = None,
    *,
    session_id: str = "12345",
    at: datetime = T0,
    event_id: str | None = None,
    channel: str = "voice",
    sequence: int | None = None,
) -> dict[str, Any]:
    doc = {
        "spec": "session-event/v1",
        "event_id": event_id or f"{session_id}-{type_}-{at.isoformat()}",
        "session_id": session_id,
        "channel": channel,
        "type": type_,
        "occurred_at": at.isoformat(timespec="milliseconds"),
        "data": data or {},
    }
    if sequence is not None:
        doc["sequence"] = sequence
    return doc


def raw(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode("utf-8")


@dataclass
class SessionScript:
    """Builds one session's envelopes at growing times: ``s.at(30).add(type, data)``."""

    session_id: str = "12345"
    channel: str = "voice"
    start: datetime = T0
    with_sequence: bool = False
    docs: list[dict[str, Any]] = field(default_factory=list)
    _offset: float = 0.0

    def at(self, seconds: float) -> SessionScript:
        self._offset = seconds
        return self

    def add(self, type_: str, data: dict[str, Any] | None = None) -> SessionScript:
        n = len(self.docs)
        self.docs.append(
            envelope(
                type_,
                data,
                session_id=self.session_id,
                at=self.start + timedelta(seconds=self._offset),
                event_id=f"{self.session_id}-{n:03d}",
                channel=self.channel,
                sequence=n if self.with_sequence else None,
            )
        )
        return self

    def status(self, status: str, code: int, **data: Any) -> SessionScript:
        return self.add("session.status_changed", {"status": status, "status_code": code, **data})

    def events(self) -> list[Event]:
        return [parse_event(raw(d)) for d in self.docs]

    @property
    def last_at(self) -> datetime:
        return self.start + timedelta(seconds=self._offset)


AGENT = {"id": "a1", "name": "Noam B", "first_name": "Noam", "last_name": "B"}
MENU = {
    "id": "6205",
    "name": "Billing",
    "path": "2420/4563/6205",
    "path_names": ["Support", "Accounts", "Billing"],
    "menu_type": "ivr",
}


def handled_call(
    session_id: str = "12345", *, with_sequence: bool = False, start: datetime = T0
) -> SessionScript:
    """An IVR call: queued, answered by an agent, two holds, wrap-up, disposition."""
    s = SessionScript(session_id=session_id, with_sequence=with_sequence, start=start)
    s.at(0).add(
        "session.created",
        {
            "session_type": "Voice Inbound (IVR)",
            "lang": "en",
            "menu": MENU,
            "support_number": "+12223334444",
            "queue_priority": 3,
            "end_user": {"id": "u1", "identifier": "cust-1", "phone": "+15550100"},
        },
    )
    s.at(1).status("selecting", 12)
    s.at(10).status("queued", 1, queue={"id": "6205", "name": "Billing", "path": MENU["path"]})
    s.at(40).status("assigned", 2, agent=AGENT)
    s.at(42).status("connecting", 3)
    s.at(45).status("connected", 5)
    s.at(50).add("stream.call_started", {"call_id": session_id, "language": "en-US"})
    s.at(60).add("session.hold_started", {"agent": {"id": "a1", "name": "Noam B"}})
    s.at(75).add("session.hold_ended", {"agent": {"id": "a1", "name": "Noam B"}})
    s.at(100).add("session.hold_started", {"agent": {"id": "a1", "name": "Noam B"}})
    s.at(108).add("session.hold_ended", {"agent": {"id": "a1", "name": "Noam B"}})
    s.at(120).add("session.recording_permission", {"permission": "granted"})
    s.at(150).add("stream.custom_data", {"purchaseDate": "Invalid DateTime", "temperature": 70.5})
    s.at(200).add("session.ended", {"final_status": "finished", "disconnected_by": "agent"})
    s.at(201).add("session.wrap_up_started", {"agent": {"id": "a1", "name": "Noam B"}})
    s.at(260).add(
        "session.disposition",
        {"code": "Resolved", "note": "Customer needed our hours.", "agent": {"id": "a1"}},
    )
    s.at(285).add("session.wrap_up_ended", {"agent": {"id": "a1", "name": "Noam B"}})
    return s


def shaped_call(session_id: str = "777") -> SessionScript:
    """A call in the shapes real producers send: agents as objects and bare ids, ids and
    numbers as text, seed spellings, a path as a list, and two fields of an unexpected
    shape (a photo link and the end's ``fail_reason`` as objects), which are left out.

    Handled from +10 s to the end at +600 s (the first agent's wrap-up ends at +90 s),
    holds of 10 s and 7 s in two interactions.
    """
    s = SessionScript(session_id=session_id)
    s.at(0).add(
        "session.created",
        {
            "session_type": "Voice inbound",
            "lang": "en",
            "device": {"os": "iOS"},
            "menu": {"id": 6205, "name": "Billing", "path": [2420, 4563, 6205]},
        },
    )
    s.at(5).status("queued", 1, queue={"id": 6205, "name": "Billing"})
    s.at(10).status("Assigned", "2", agent={"id": 101, "name": "Noam B"})
    s.at(20).add("session.hold_started", {"agent": 101})
    s.at(30).add("session.hold_ended", {"agent": "101"})
    s.at(40).add(
        "session.transfer_started",
        {"transfer_id": "t1", "from": {"agent": {"id": 101, "name": "Noam B"}}, "to": {}},
    )
    s.at(50).add(
        "session.transfer_completed",
        {"transfer_id": "t1", "to": {"agent": {"id": 102, "name": "Dana K"}}},
    )
    s.at(51).add("session.wrap_up_started", {"agent": 101})
    s.at(90).add("session.wrap_up_ended", {"agent": 101})
    s.at(100).add("session.hold_started", {"agent": "102"})
    s.at(107).add("session.hold_ended", {"agent": "102"})
    s.at(120).add("session.recording_permission", {"permission": "Not Asked"})
    s.at(130).add("stream.photo_uploaded", {"external_storage_link": {"url": "https://x/1"}})
    s.at(600).add(
        "session.ended",
        {
            "final_status": "failed",
            "disconnected_by": "system",
            "fail_reason": {"code": "carrier"},
            "fail_details": {"sip": 503},
        },
    )
    return s
