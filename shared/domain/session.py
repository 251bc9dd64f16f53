"""The reducer: a session's events -> the session's state.

Order-independent and duplicate-proof by construction: the events are first
de-duplicated by ``event_id`` and put in the contract's canonical order
(``sequence`` when every event of the session has one, else ``occurred_at``,
ties broken by ``event_id``), then folded. Any permutation or repetition of the
same events therefore gives the same state.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.domain import events as ev
from shared.domain.catalog import (
    CHAT_SESSION_TYPES,
    HUMAN_CONNECTED,
    VIRTUAL_CONNECTED,
    VOICE_SESSION_TYPES,
)
from shared.domain.shapes import Agent, FieldIssue

ASSIGNED_STATUSES = frozenset({"assigned", "va_assigned"})
CONNECTED_STATUSES = HUMAN_CONNECTED | VIRTUAL_CONNECTED


@dataclass
class Hold:
    started_at: datetime
    ended_at: datetime | None
    interaction: int


@dataclass
class Transfer:
    id: str | None
    status: str
    from_: dict[str, Any] | None
    to: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    fail_reason: str | None = None


@dataclass(frozen=True)
class LeftOut:
    """A field of an unexpected shape in one of the session's events (see ``FieldIssue``)."""

    event_id: str
    type: str
    issue: FieldIssue


@dataclass
class ParticipantRecord:
    id: str | None
    type: str | None
    name: str | None
    joined_at: datetime
    left_at: datetime | None = None


@dataclass
class SessionState:
    """Everything the events say about one session, in the order they say it."""

    session_id: str
    channel: str | None = None
    created: ev.SessionCreated | None = None
    created_at: datetime | None = None
    first_event_at: datetime | None = None
    last_event_at: datetime | None = None
    status: str | None = None
    status_code: int | None = None
    status_first_at: dict[str, datetime] = field(default_factory=dict)
    status_history: list[tuple[str, datetime]] = field(default_factory=list)
    queue: ev.QueueRef | None = None
    agent: Agent | None = None
    holds: list[Hold] = field(default_factory=list)
    interaction: int = 0
    wrap_up_ended_at: datetime | None = None  # the last session.wrap_up_ended
    transfers: dict[str, Transfer] = field(default_factory=dict)
    participants: list[ParticipantRecord] = field(default_factory=list)
    deflections: list[tuple[ev.Deflected, datetime]] = field(default_factory=list)
    ended: ev.Ended | None = None
    ended_at: datetime | None = None
    messages: list[tuple[ev.ChatMessage, datetime]] = field(default_factory=list)
    recording_permission: str | None = None
    recording_url: str | None = None
    csat: ev.Csat | None = None
    smart_actions: dict[str, str] = field(default_factory=dict)
    verified: bool = False
    uploads: dict[str, int] = field(default_factory=lambda: {"photos": 0, "videos": 0})
    uploaded_items: dict[str, int] = field(default_factory=lambda: {"photos": 0, "videos": 0})
    sms: dict[str, int] = field(default_factory=lambda: {"in_call": 0, "wait_time": 0})
    disposition: ev.Disposition | None = None
    disposition_from_session: bool = False  # a session.disposition outranks stream.disposition
    event_count: int = 0
    stream: list[ev.Event] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)

    @property
    def is_ended(self) -> bool:
        return self.ended is not None

    @property
    def channel_name(self) -> str | None:
        """The channel of the session's events, else the channel its session type belongs to."""
        if self.channel is not None:
            return self.channel
        if self.session_type in CHAT_SESSION_TYPES:
            return "chat"
        return "voice" if self.session_type in VOICE_SESSION_TYPES else None

    @property
    def is_chat(self) -> bool:
        return self.channel_name == "chat"

    @property
    def session_type(self) -> str | None:
        return self.created.session_type if self.created else None

    def photos(self) -> int:
        return max(self.uploads["photos"], self.uploaded_items["photos"])

    def videos(self) -> int:
        return max(self.uploads["videos"], self.uploaded_items["videos"])


def canonical_order(events: Iterable[ev.Event]) -> list[ev.Event]:
    """Distinct events (by id) in the contract's order."""
    distinct: dict[str, ev.Event] = {}
    for event in events:
        kept = distinct.get(event.event_id)
        if kept is None or _tiebreak(event) < _tiebreak(kept):
            distinct[event.event_id] = event
    ordered = list(distinct.values())
    if ordered and all(e.sequence is not None for e in ordered):
        ordered.sort(key=lambda e: (e.sequence, e.occurred_at, e.event_id))
    else:
        ordered.sort(key=lambda e: (e.occurred_at, e.sequence or 0, e.event_id))
    return ordered


def _tiebreak(event: ev.Event) -> str:
    """Two different bodies under one id should not happen; if they do, pick one for good."""
    return json.dumps(event.envelope(), sort_keys=True, default=str)


def reduce_session(session_id: str, events: Iterable[ev.Event]) -> SessionState:
    """Fold the session's events, in canonical order, into its state."""
    state = SessionState(session_id=session_id)
    for event in canonical_order(events):
        _apply(state, event)
    return state


def _apply(state: SessionState, event: ev.Event) -> None:
    state.event_count += 1
    state.channel = state.channel or event.channel
    state.left_out += [LeftOut(event.event_id, event.type, issue) for issue in event.issues]
    at = event.occurred_at
    if state.first_event_at is None or at < state.first_event_at:
        state.first_event_at = at
    if state.last_event_at is None or at > state.last_event_at:
        state.last_event_at = at
    if event.is_stream:
        state.stream.append(event)
        _apply_stream(state, event)
        return
    handler = _HANDLERS.get(event.type)
    if handler is not None:
        handler(state, event.payload, at)


def _created(state: SessionState, p: ev.SessionCreated, at: datetime) -> None:
    state.created = p
    state.created_at = at


def _status_changed(state: SessionState, p: ev.StatusChanged, at: datetime) -> None:
    if p.agent is not None:
        # Whatever status carries an agent names who handles the session: campaign calls
        # never pass through ``assigned``, yet an agent takes them.
        state.agent = p.agent
    if p.status is None:
        return  # neither half of the pair was usable: the event changes no status
    state.status, state.status_code = p.status, p.status_code
    state.status_first_at.setdefault(p.status, at)
    state.status_history.append((p.status, at))
    if p.status == "queued" and p.queue is not None:
        state.queue = p.queue


def _hold_started(state: SessionState, p: ev.AgentAction, at: datetime) -> None:
    if state.holds and state.holds[-1].ended_at is None:
        return  # already on hold: a second start changes nothing
    state.holds.append(Hold(started_at=at, ended_at=None, interaction=state.interaction))


def _hold_ended(state: SessionState, p: ev.AgentAction, at: datetime) -> None:
    if state.holds and state.holds[-1].ended_at is None:
        state.holds[-1].ended_at = at


def _transfer(status: str) -> Callable[[SessionState, ev.TransferEvent, datetime], None]:
    def apply(state: SessionState, p: ev.TransferEvent, at: datetime) -> None:
        key = _transfer_key(state, p, status, at)
        known = state.transfers.get(key)
        from_ = _ends(p.from_)
        to = _ends(p.to)
        if known is None:
            state.transfers[key] = Transfer(
                id=p.transfer_id,
                status=status,
                from_=from_,
                to=to,
                created_at=at,
                updated_at=at,
                fail_reason=p.reason if status == "failed" else None,
            )
        else:
            known.status = status
            known.from_ = from_ or known.from_
            known.to = to or known.to
            known.updated_at = at
            if status == "failed":
                known.fail_reason = p.reason
        if status == "completed":
            # A transfer starts a new interaction, which keeps its own hold total (seed 002).
            state.interaction += 1

    return apply


def _transfer_key(state: SessionState, p: ev.TransferEvent, status: str, at: datetime) -> str:
    """The transfer's id; without one, the last transfer still open, else a new one."""
    if p.transfer_id is not None:
        return p.transfer_id
    if status != "started":
        for key, known in reversed(state.transfers.items()):
            if known.status == "started":
                return key
    return f"\x00{at.isoformat()}#{len(state.transfers)}"


def _ends(end: ev.TransferEnd | None) -> dict[str, Any] | None:
    if end is None:
        return None
    return {k: v for k, v in end.model_dump(by_alias=True).items() if v is not None}


def _participant_joined(state: SessionState, p: ev.ParticipantEvent, at: datetime) -> None:
    who = p.participant or ev.Participant()
    state.participants.append(
        ParticipantRecord(id=who.id, type=who.type, name=who.name, joined_at=at)
    )


def _participant_left(state: SessionState, p: ev.ParticipantEvent, at: datetime) -> None:
    who = p.participant or ev.Participant()
    for record in reversed(state.participants):
        if record.id == who.id and record.left_at is None:
            record.left_at = at
            return


def _deflected(state: SessionState, p: ev.Deflected, at: datetime) -> None:
    state.deflections.append((p, at))


def _wrap_up_ended(state: SessionState, p: ev.AgentAction, at: datetime) -> None:
    state.wrap_up_ended_at = at


def _ended(state: SessionState, p: ev.Ended, at: datetime) -> None:
    state.ended, state.ended_at = p, at


def _chat_message(state: SessionState, p: ev.ChatMessage, at: datetime) -> None:
    state.messages.append((p, at))


def _recording_permission(state: SessionState, p: ev.RecordingPermission, at: datetime) -> None:
    state.recording_permission = p.permission or state.recording_permission
    state.recording_url = p.recording_url or state.recording_url


def _csat(state: SessionState, p: ev.Csat, at: datetime) -> None:
    if p.rating is not None:  # a CSAT without a usable rating rates nothing
        state.csat = p


SMART_ACTION_KEYS = {
    "verification": "verification",
    "photo": "photos",
    "photos": "photos",
    "video": "videos",
    "videos": "videos",
    "text_input": "text_input",
}


def _smart_action(state: SessionState, p: ev.SmartAction, at: datetime) -> None:
    key = SMART_ACTION_KEYS.get(p.action or "")
    if key is None or p.status is None:
        return
    state.smart_actions[key] = p.status
    if key == "verification" and p.status == "verified":
        state.verified = True
    if key in state.uploads and p.status == "uploaded":
        state.uploads[key] += 1 if p.count is None else p.count


def _sms(state: SessionState, p: ev.Sms, at: datetime) -> None:
    if p.kind is not None:
        state.sms[p.kind] += 1


def _disposition(state: SessionState, p: ev.Disposition, at: datetime) -> None:
    state.disposition = p
    state.disposition_from_session = True


RECORDING_URL_KEYS = ("recording_url", "external_storage_link", "external_storage_url", "url")


UPLOAD_ITEMS = {"stream.photo_uploaded": "photos", "stream.video_uploaded": "videos"}


def _apply_stream(state: SessionState, event: ev.Event) -> None:
    """The few data-stream items that also feed the metadata file."""
    data = event.data if isinstance(event.data, dict) else {}
    if event.type == "stream.call_recording":
        for key in (*RECORDING_URL_KEYS, "crm_link"):
            value = data.get(key)
            if isinstance(value, str) and value:
                state.recording_url = value
                return
    elif event.type == "stream.verified":
        state.verified = True
        state.smart_actions.setdefault("verification", "verified")
    elif event.type in UPLOAD_ITEMS:
        state.uploaded_items[UPLOAD_ITEMS[event.type]] += 1
    elif event.type == "stream.disposition" and not state.disposition_from_session:
        # The data stream's copy of the wrap-up code counts when no session.disposition came.
        p = event.payload
        if getattr(p, "code", None) is not None:
            state.disposition = ev.Disposition.model_validate(
                p.model_dump(by_alias=True, exclude_none=True)
            )


# Types without a handler (session.wrap_up_started) are counted and kept, but no key of
# the file depends on them: handle time ends with session.wrap_up_ended.
# Each handler takes the payload model of its type (``ev.PAYLOAD_MODELS``).
_HANDLERS: dict[str, Callable[[SessionState, Any, datetime], None]] = {
    "session.created": _created,
    "session.status_changed": _status_changed,
    "session.hold_started": _hold_started,
    "session.hold_ended": _hold_ended,
    "session.transfer_started": _transfer("started"),
    "session.transfer_completed": _transfer("completed"),
    "session.transfer_failed": _transfer("failed"),
    "session.participant_joined": _participant_joined,
    "session.participant_left": _participant_left,
    "session.deflected": _deflected,
    "session.wrap_up_ended": _wrap_up_ended,
    "session.ended": _ended,
    "chat.message": _chat_message,
    "session.recording_permission": _recording_permission,
    "session.csat": _csat,
    "session.smart_action": _smart_action,
    "session.sms": _sms,
    "session.disposition": _disposition,
}
