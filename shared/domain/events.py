"""The input contract: the envelope and the payload of every type, placed then applied.

``parse_event`` turns the raw bytes of one Pub/Sub message into an ``Event``, or
raises ``BadInput`` when the message cannot be placed (the spec's last section:
not JSON, a missing envelope field, an unknown ``spec`` or ``type``, an
``occurred_at`` that does not parse, a status pair off the table, over 1 MiB).
Everything else is placed and applied: a payload field of an unexpected shape is
left out of the typed payload and named in ``Event.issues``, while the event
keeps its data exactly as sent. Unknown extra keys are kept everywhere
(``extra="allow"``): the platform adds fields before it documents them.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator

from shared.domain.catalog import (
    CHAT_SESSION_TYPES,
    EVENT_TYPES,
    STATUS_CODES,
    STREAM_TYPES,
    VOICE_SESSION_TYPES,
)
from shared.domain.errors import BadInput
from shared.domain.shapes import (
    BARE_ID,
    AgentRef,
    FieldIssue,
    Folded,
    Integer,
    MaterializedPath,
    NameList,
    Open,
    Text,
    Timestamp,
    as_integer,
    fold,
    in_range,
    is_scalar,
    lenient_validate,
    one_of,
    parse_timestamp,
)
from shared.domain.stream import STREAM_PAYLOAD_MODELS

__all__ = ["Event", "FieldIssue", "Open", "parse_envelope", "parse_event", "parse_timestamp"]

SPEC_VERSION = "session-event/v1"
MAX_PAYLOAD_BYTES = 1 << 20  # 1 MiB
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# What places an event (the spec's last section); ``channel`` and ``data`` are read leniently.
PLACING_FIELDS = ("spec", "event_id", "session_id", "type", "occurred_at")


class MenuRef(Open):
    id: Text | None = None
    name: Text | None = None
    path: MaterializedPath | None = None
    path_names: NameList | None = None
    menu_type: Text | None = None


class QueueRef(Open):
    id: Text | None = None
    name: Text | None = None
    path: MaterializedPath | None = None


class EndUserRef(Open):
    id: Text | None = None
    identifier: Text | None = None
    phone: Text | None = None
    email: Text | None = None


class CampaignRef(Open):
    id: Text | None = None
    name: Text | None = None
    mode: Annotated[str, one_of("preview", "progressive", "predictive")] | None = None


SessionType = Annotated[str, one_of(*VOICE_SESSION_TYPES, *CHAT_SESSION_TYPES)]


class SessionCreated(Open):
    session_type: SessionType | None = None
    lang: Text | None = None
    menu: Annotated[MenuRef, BARE_ID] | None = None
    support_number: Text | None = None
    outbound_number: Text | None = None
    queue_priority: Annotated[int, in_range(1, 8)] | None = None
    end_user: Annotated[EndUserRef, BARE_ID] | None = None
    device: Any = None  # the contract names it without a shape: kept, not read
    scheduled_at: Timestamp | None = None
    campaign: Annotated[CampaignRef, BARE_ID] | None = None


Status = Annotated[str, one_of(*STATUS_CODES)]


class StatusChanged(Open):
    status: Status | None = None
    status_code: Integer | None = None
    queue: Annotated[QueueRef, BARE_ID] | None = None
    agent: AgentRef | None = None
    reason: Text | None = None


class AgentAction(Open):
    """Hold and wrap-up events: who did it."""

    agent: AgentRef | None = None


def _agent_as_sent(value: Any) -> Any:
    if isinstance(value, dict) or is_scalar(value):
        return value
    raise ValueError("an object or a bare id")


class TransferEnd(Open):
    """One side of a transfer. ``agent`` is kept as sent (an object or a bare id)."""

    agent: Annotated[Any, PlainValidator(_agent_as_sent)] = None
    menu_path: MaterializedPath | None = None
    external: Text | None = None


class TransferEvent(Open):
    transfer_id: Text | None = None
    from_: Annotated[TransferEnd, BARE_ID] | None = Field(None, alias="from")
    to: Annotated[TransferEnd, BARE_ID] | None = None
    reason: Text | None = None


class Participant(Open):
    id: Text | None = None
    type: Annotated[str, one_of("agent", "end_user", "virtual_agent", "external")] | None = None
    name: Text | None = None
    phone: Text | None = None


class ParticipantEvent(Open):
    participant: Annotated[Participant, BARE_ID] | None = None


class Deflected(Open):
    deflection: Text | None = None
    channel: Text | None = None


FINAL_STATUSES = ("finished", "failed", "recovered", "deflected", "voicemail_received")
PARTIES = ("agent", "end_user", "virtual_agent", "system")


class Ended(Open):
    final_status: Annotated[str, one_of(*FINAL_STATUSES)] | None = None
    disconnected_by: Annotated[str, one_of(*PARTIES)] | None = None
    fail_reason: Text | None = None
    fail_details: Any = None
    voicemail_reason: Text | None = None


class ChatMessage(Open):
    sender: Annotated[str, one_of(*PARTIES)] | None = None
    message_id: Text | None = None
    text: Text | None = None


class RecordingPermission(Open):
    permission: Annotated[str, one_of("granted", "denied", "not_asked")] | None = None
    recording_url: Text | None = None


class Csat(Open):
    rating: Annotated[int, in_range(1, 4)] | None = None
    comment: Text | None = None


SMART_ACTIONS = ("verification", "photo", "photos", "video", "videos", "text_input")


class SmartAction(Open):
    action: Annotated[str, one_of(*SMART_ACTIONS)] | None = None
    status: Folded | None = None
    count: Annotated[int, in_range(0, None)] | None = None


class Sms(Open):
    kind: Annotated[str, one_of("in_call", "wait_time")] | None = None
    direction: Annotated[str, one_of("inbound", "outbound")] | None = None


class Disposition(Open):
    code: Text | None = None
    custom_code_id: Text | None = None
    platform_code_id: Text | None = None
    note: Text | None = None
    list_: Text | None = Field(None, alias="list")
    custom_list_id: Text | None = None
    platform_list_id: Text | None = None
    agent: AgentRef | None = None


class StreamPayload(Open):
    """A data-stream item of no known model: kept as sent, whatever it holds."""


PAYLOAD_MODELS: dict[str, type[Open]] = {
    "session.created": SessionCreated,
    "session.status_changed": StatusChanged,
    "session.hold_started": AgentAction,
    "session.hold_ended": AgentAction,
    "session.transfer_started": TransferEvent,
    "session.transfer_completed": TransferEvent,
    "session.transfer_failed": TransferEvent,
    "session.participant_joined": ParticipantEvent,
    "session.participant_left": ParticipantEvent,
    "session.deflected": Deflected,
    "session.wrap_up_started": AgentAction,
    "session.wrap_up_ended": AgentAction,
    "session.ended": Ended,
    "chat.message": ChatMessage,
    "session.recording_permission": RecordingPermission,
    "session.csat": Csat,
    "session.smart_action": SmartAction,
    "session.sms": Sms,
    "session.disposition": Disposition,
    **STREAM_PAYLOAD_MODELS,
}


class Event(BaseModel):
    """One placed platform event: the envelope, its typed payload, and what was left out.

    ``data`` and ``raw`` are exactly what was sent (the stored event and the data
    stream keep them); ``payload`` is the typed view the file is computed from,
    without the fields named in ``issues``.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    event_id: str
    session_id: str
    channel: str | None  # "voice" / "chat"; None when it was missing or another value
    type: str
    occurred_at: datetime
    sequence: int | None = None
    data: Any
    payload: Open
    issues: tuple[FieldIssue, ...] = ()
    raw: dict[str, Any] | None = None

    @property
    def is_stream(self) -> bool:
        return self.type in STREAM_TYPES

    def envelope(self) -> dict[str, Any]:
        """The event as the platform sent it (the wire form, for storage)."""
        if self.raw is not None:
            return self.raw
        out: dict[str, Any] = {
            "spec": SPEC_VERSION,
            "event_id": self.event_id,
            "session_id": self.session_id,
            "channel": self.channel,
            "type": self.type,
            "occurred_at": self.occurred_at.isoformat(),
            "data": self.data,
        }
        if self.sequence is not None:
            out["sequence"] = self.sequence
        return out


def parse_event(raw: bytes) -> Event:
    """Place one message body as an ``Event``; raise ``BadInput`` naming the rule broken."""
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise BadInput("payload_too_large", f"{len(raw)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        doc = json.loads(raw, parse_constant=_not_json)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise BadInput("not_json", str(exc)) from None
    if not isinstance(doc, dict):
        raise BadInput("not_json", "the envelope is not a JSON object")
    return parse_envelope(doc)


def _not_json(constant: str) -> Any:
    """``NaN`` and ``Infinity`` are Python's extensions, not JSON."""
    raise ValueError(f"{constant} is not a JSON value")


def parse_envelope(doc: dict[str, Any]) -> Event:
    """Place a decoded envelope (see ``parse_event``)."""
    missing = [name for name in PLACING_FIELDS if doc.get(name) is None]
    if "spec" not in missing and doc["spec"] != SPEC_VERSION:
        raise BadInput("unsupported_spec", f"spec {doc['spec']!r} is not {SPEC_VERSION!r}")
    if missing:
        raise BadInput("missing_field", "missing: " + ", ".join(missing))
    event_type = doc["type"]
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        raise BadInput("unknown_type", f"type {event_type!r} is not in the contract")
    try:
        occurred_at = parse_timestamp(doc["occurred_at"])
    except ValueError as exc:
        raise BadInput("bad_timestamp", f"occurred_at {doc['occurred_at']!r}: not {exc}") from None
    event_id, session_id = doc["event_id"], doc["session_id"]
    if not isinstance(event_id, str) or not event_id:
        raise BadInput("invalid_field", "event_id must be a non-empty string")
    if not isinstance(session_id, str) or not SESSION_ID.match(session_id):
        # It names the session's documents and files: without it the event has no place.
        raise BadInput("invalid_field", "session_id must be 1..64 characters of [A-Za-z0-9_-]")
    issues: list[FieldIssue] = []
    channel = doc.get("channel")
    if channel not in ("voice", "chat"):
        folded = fold(channel) if isinstance(channel, str) else None
        channel = folded if folded in ("voice", "chat") else None
        if channel is None:
            issues.append(FieldIssue("channel", "voice or chat"))
    sequence = _sequence(doc.get("sequence"), issues)
    data = doc.get("data")
    payload, payload_issues = lenient_validate(PAYLOAD_MODELS[event_type], data)
    issues += payload_issues
    if isinstance(payload, StatusChanged):
        payload = _status_pair(payload, data)
    # Every field was checked above: construct without validating twice (the hot path).
    return Event.model_construct(
        event_id=event_id,
        session_id=session_id,
        channel=channel,
        type=event_type,
        occurred_at=occurred_at,
        sequence=sequence,
        data=doc.get("data", {}),
        payload=payload,
        issues=tuple(issues),
        raw=doc,
    )


def _sequence(value: Any, issues: list[FieldIssue]) -> int | None:
    if value is None:
        return None
    try:
        number = as_integer(value)
    except ValueError:
        number = -1
    if number < 0:
        issues.append(FieldIssue("sequence", "an integer >= 0"))
        return None
    return number


def _status_pair(payload: StatusChanged, data: Any) -> StatusChanged:
    """The pair must be on the table; either half alone names the status.

    A half of another shape (an object, a list) was already left out as a field; a
    scalar status or code that is not on the table makes the event's meaning unknown.
    """
    status, code = payload.status, payload.status_code
    sent = data if isinstance(data, dict) else {}
    if status is None and is_scalar(sent.get("status")):
        raise BadInput("status_mismatch", f"status {sent['status']!r} is not on the table")
    if code is not None and code not in CODES:
        raise BadInput("status_mismatch", f"status code {code} is not on the table")
    if status is not None and code is not None and STATUS_CODES[status] != code:
        raise BadInput("status_mismatch", f"status {status!r} with code {code} is off the table")
    if status is None and code is not None:
        return payload.model_copy(update={"status": CODES[code]})
    if code is None and status is not None:
        return payload.model_copy(update={"status_code": STATUS_CODES[status]})
    return payload


CODES = {code: status for status, code in STATUS_CODES.items()}
