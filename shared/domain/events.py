"""The input contract: the event envelope and the payload of every lifecycle type.

``parse_event`` turns the raw bytes of one Pub/Sub message into an ``Event`` or
raises ``BadInput`` with one of the reasons of the spec's last section. Unknown
extra keys are kept everywhere (``extra="allow"``): the platform adds fields
before it documents them, and a consumer that drops them loses data.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.domain.catalog import EVENT_TYPES, STATUS_CODES, STREAM_TYPES
from shared.domain.errors import BadInput

SPEC_VERSION = "session-event/v1"
MAX_PAYLOAD_BYTES = 1 << 20  # 1 MiB
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
REQUIRED_FIELDS = ("spec", "event_id", "session_id", "channel", "type", "occurred_at", "data")


class Open(BaseModel):
    """A payload part that keeps keys it does not know and takes ids as text or numbers."""

    model_config = ConfigDict(
        extra="allow", coerce_numbers_to_str=True, frozen=True, populate_by_name=True
    )


class AgentRef(Open):
    id: str | None = None
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None


class MenuRef(Open):
    id: str | None = None
    name: str | None = None
    path: str | None = None
    path_names: list[str] = Field(default_factory=list)
    menu_type: str | None = None


class QueueRef(Open):
    id: str | None = None
    name: str | None = None
    path: str | None = None


class EndUserRef(Open):
    id: str | None = None
    identifier: str | None = None
    phone: str | None = None
    email: str | None = None


class CampaignRef(Open):
    id: str | None = None
    name: str | None = None
    mode: str | None = None


class SessionCreated(Open):
    session_type: str
    lang: str | None = None
    menu: MenuRef | None = None
    support_number: str | None = None
    outbound_number: str | None = None
    queue_priority: int | None = Field(None, ge=1, le=8)
    end_user: EndUserRef | None = None
    device: str | None = None
    scheduled_at: str | None = None
    campaign: CampaignRef | None = None


class StatusChanged(Open):
    status: str
    status_code: int
    queue: QueueRef | None = None
    agent: AgentRef | None = None
    reason: str | None = None


class AgentAction(Open):
    """Hold and wrap-up events: who did it."""

    agent: AgentRef | None = None


class TransferEnd(Open):
    agent: str | None = None
    menu_path: str | None = None
    external: str | None = None


class TransferEvent(Open):
    transfer_id: str
    from_: TransferEnd | None = Field(None, alias="from")
    to: TransferEnd | None = None
    reason: str | None = None


class Participant(Open):
    id: str | None = None
    type: str | None = None
    name: str | None = None
    phone: str | None = None


class ParticipantEvent(Open):
    participant: Participant


class Deflected(Open):
    deflection: str
    channel: str | None = None


class Ended(Open):
    final_status: Literal["finished", "failed", "recovered", "deflected", "voicemail_received"]
    disconnected_by: str | None = None
    fail_reason: str | None = None
    fail_details: Any = None
    voicemail_reason: str | None = None


class ChatMessage(Open):
    sender: Literal["end_user", "agent", "virtual_agent", "system"]
    message_id: str | None = None
    text: str | None = None


class RecordingPermission(Open):
    permission: Literal["granted", "denied", "not_asked"]
    recording_url: str | None = None


class Csat(Open):
    rating: int = Field(ge=1, le=4)
    comment: str | None = None


class SmartAction(Open):
    action: str
    status: str
    count: int | None = None


class Sms(Open):
    kind: Literal["in_call", "wait_time"]
    direction: str | None = None


class Disposition(Open):
    code: str
    custom_code_id: str | None = None
    platform_code_id: str | None = None
    note: str | None = None
    list_: str | None = Field(None, alias="list")
    custom_list_id: str | None = None
    platform_list_id: str | None = None
    agent: AgentRef | None = None


class StreamPayload(Open):
    """A data-stream item: kept as sent, whatever it holds."""


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
}


class Event(BaseModel):
    """One valid platform event: the envelope with its typed payload."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    event_id: str
    session_id: str
    channel: Literal["voice", "chat"]
    type: str
    occurred_at: datetime
    sequence: int | None = None
    data: dict[str, Any]
    payload: Open

    @property
    def is_stream(self) -> bool:
        return self.type in STREAM_TYPES

    def envelope(self) -> dict[str, Any]:
        """The event as the platform sent it (the wire form, for storage and the data stream)."""
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


RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def parse_timestamp(value: Any) -> datetime:
    """An RFC 3339 timestamp with an offset, or ``ValueError``."""
    if not isinstance(value, str) or not RFC3339.match(value):
        raise ValueError("not an RFC 3339 date-time with an offset")
    return datetime.fromisoformat(value.upper().replace(" ", "T"))


def parse_event(raw: bytes) -> Event:
    """Validate one message body into an ``Event``; raise ``BadInput`` naming the rule broken."""
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise BadInput("payload_too_large", f"{len(raw)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput("not_json", str(exc)) from None
    if not isinstance(doc, dict):
        raise BadInput("not_json", "the envelope is not a JSON object")
    return parse_envelope(doc)


def parse_envelope(doc: dict[str, Any]) -> Event:
    """Validate a decoded envelope (see ``parse_event``)."""
    missing = [name for name in REQUIRED_FIELDS if doc.get(name) is None]
    if "spec" not in missing and doc["spec"] != SPEC_VERSION:
        raise BadInput("unsupported_spec", f"spec {doc['spec']!r} is not {SPEC_VERSION!r}")
    if missing:
        raise BadInput("missing_field", "missing: " + ", ".join(missing))
    event_type = doc["type"]
    if event_type not in EVENT_TYPES:
        raise BadInput("unknown_type", f"type {event_type!r} is not in the contract")
    try:
        occurred_at = parse_timestamp(doc["occurred_at"])
    except ValueError as exc:
        raise BadInput("bad_timestamp", f"occurred_at {doc['occurred_at']!r}: {exc}") from None
    _check_envelope_fields(doc)
    payload = _parse_payload(event_type, doc["data"])
    # Every field was checked above: construct without validating twice (the hot path).
    return Event.model_construct(
        event_id=doc["event_id"],
        session_id=doc["session_id"],
        channel=doc["channel"],
        type=event_type,
        occurred_at=occurred_at,
        sequence=doc.get("sequence"),
        data=doc["data"],
        payload=payload,
    )


def _check_envelope_fields(doc: dict[str, Any]) -> None:
    event_id, session_id = doc["event_id"], doc["session_id"]
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= 128:
        raise BadInput("invalid_field", "event_id must be a string of 1..128 characters")
    if not isinstance(session_id, str) or not SESSION_ID.match(session_id):
        raise BadInput("invalid_field", "session_id must be 1..64 characters of [A-Za-z0-9_-]")
    if doc["channel"] not in ("voice", "chat"):
        raise BadInput("invalid_field", f"channel {doc['channel']!r} is not voice or chat")
    sequence = doc.get("sequence")
    if sequence is not None and (
        not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0
    ):
        raise BadInput("invalid_field", "sequence must be an integer >= 0")
    if not isinstance(doc["data"], dict):
        raise BadInput("invalid_field", "data must be an object")


def _parse_payload(event_type: str, data: dict[str, Any]) -> Open:
    from shared.domain.stream import STREAM_PAYLOAD_MODELS  # here: stream.py builds on Open

    model = PAYLOAD_MODELS.get(event_type)
    if model is None:
        # A data-stream item is kept whatever it holds: a field of an unexpected type is
        # no reason to lose it, so it falls back to the untyped payload.
        try:
            return STREAM_PAYLOAD_MODELS.get(event_type, StreamPayload).model_validate(data)
        except ValidationError:
            return StreamPayload.model_validate(data)
    try:
        payload = model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "data"
        reason = "missing_field" if first["type"] == "missing" else "invalid_field"
        raise BadInput(reason, f"data.{where}: {first['msg']}") from None
    if isinstance(payload, StatusChanged):
        expected = STATUS_CODES.get(payload.status)
        if expected is None or expected != payload.status_code:
            raise BadInput(
                "status_mismatch",
                f"status {payload.status!r} with code {payload.status_code} is off the table",
            )
    for name in model.model_fields:
        value = data.get(name)
        if name.endswith("_at") and value is not None:
            try:
                parse_timestamp(value)
            except ValueError as exc:
                raise BadInput("bad_timestamp", f"data.{name} {value!r}: {exc}") from None
    return payload
