"""The output contract: the metadata file, built from a session's state.

``build_metadata`` is pure: the clock (``updated_at``), the version and the
tenant's time zone come in as arguments. Every key of the spec's table is
always present; a key with no data is ``null`` (lists: ``[]``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.catalog import HUMAN_CONNECTED, STATUS_CODES, VIRTUAL_CONNECTED
from shared.domain.events import FINAL_STATUSES
from shared.domain.session import (
    ASSIGNED_STATUSES,
    CONNECTED_STATUSES,
    SessionState,
    Transfer,
)

NO_END_EVENT = "no_end_event"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QueueInfo(Strict):
    id: str | None
    name: str | None
    path: str | None


class MenuPath(Strict):
    id: str | None
    materialized_path: str | None
    name: str | None
    menu_type: str | None
    items_count: int | None


class SelectedMenu(Strict):
    id: str | None
    name: str | None
    menu_type: str | None


class SmartActions(Strict):
    verification: str | None
    photos: str | None
    videos: str | None
    text_input: str | None


class AgentInfo(Strict):
    id: str | None
    name: str | None
    first_name: str | None
    last_name: str | None


class TransferInfo(Strict):
    id: str | None
    status: str
    from_: dict[str, Any] | None = Field(alias="from")
    to: dict[str, Any] | None
    created_at: str
    updated_at: str
    fail_reason: str | None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DeflectionDetail(Strict):
    deflection: str | None
    channel: str | None
    occurred_at: str


class DispositionAgent(Strict):
    id: str | None
    name: str | None


class DispositionInfo(Strict):
    code: str | None
    note: str | None
    list: str | None
    custom_code_id: str | None
    platform_code_id: str | None
    custom_list_id: str | None
    platform_list_id: str | None
    agent: DispositionAgent | None


class ParticipantInfo(Strict):
    id: str | None
    type: str | None
    name: str | None
    joined_at: str
    left_at: str | None


class TranscriptLine(Strict):
    sender: str | None
    text: str | None
    sent_at: str


class EndUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None
    identifier: str | None
    phone: str | None = None
    email: str | None = None


class SessionMetadata(Strict):
    """``metadata-{id}.json``: one object per session (spec: metadata-file.md)."""

    id: str
    lang: str | None
    channel: str | None
    call_type: str | None
    chat_type: str | None
    status: str | None
    status_code: int | None
    created_at: str | None
    queued_at: str | None
    assigned_at: str | None
    connected_at: str | None
    ends_at: str | None
    scheduled_at: str | None
    updated_at: str
    queue: QueueInfo | None
    wait_duration: int | None
    call_duration: int | None
    chat_duration: int | None
    hold_duration: int | None
    hold_durations: list[int]
    answer_type: str | None
    out_ticket_id: str | None
    out_ticket_url: str | None
    recording_permission: str | None
    recording_url: str | None
    support_number: str | None
    outbound_number: str | None
    menu_path: MenuPath | None
    selected_menu: SelectedMenu | None
    queue_priority: int | None
    rating: int | None
    comment: str | None
    has_feedback: bool
    smart_actions: SmartActions
    verified: bool
    photos: int = Field(ge=0)
    videos: int = Field(ge=0)
    agent_info: AgentInfo | None
    transfers: list[TransferInfo]
    deflection: str | None
    deflection_details: list[DeflectionDetail]
    disposition: DispositionInfo | None
    in_call_sms: int
    wait_time_sms: int
    participants: list[ParticipantInfo]
    end_user: EndUser | None
    disconnected_by: str | None
    fail_reason: str | None
    fail_details: Any
    voicemail_reason: str | None
    message_count: int | None
    end_user_message_count: int | None
    first_msg_sent_at: str | None
    last_msg_sent_at: str | None
    average_response_time: int | None
    longest_response_time: int | None
    transcript: list[TranscriptLine] | None
    event_count: int
    version: int


def fmt(at: datetime | None, zone: tzinfo) -> str | None:
    """RFC 3339 with milliseconds and the tenant's offset: ``2023-09-11T09:42:01.000+03:00``."""
    if at is None:
        return None
    return at.astimezone(zone).isoformat(timespec="milliseconds")


def seconds(start: datetime | None, end: datetime | None) -> int | None:
    """Whole seconds from start to end (half up); ``None`` if either is unknown."""
    if start is None or end is None:
        return None
    return _whole(end - start)


def _whole(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds() + 0.5))


def build_metadata(
    state: SessionState,
    *,
    updated_at: datetime,
    version: int,
    zone: tzinfo,
    include_end_user_contact: bool = False,
    include_transcript: bool = False,
    ticket: tuple[str | None, str | None] = (None, None),
) -> dict[str, Any]:
    """The file's content for this state, as JSON-ready data in the spec's key order."""
    created = state.created
    times = _times(state)
    end = times["ends_at"] or (None if state.is_ended else state.last_event_at)
    is_chat = state.is_chat
    handle = _handle_time(state, end)
    holds = _hold_totals(state, end)
    ended = state.ended
    status, status_code, fail_reason = _final_status(state)
    doc: dict[str, Any] = {
        "id": state.session_id,
        "lang": created.lang if created else None,
        "channel": state.channel_name,
        "call_type": None if is_chat else state.session_type,
        "chat_type": state.session_type if is_chat else None,
        "status": status,
        "status_code": status_code,
        **{key: fmt(value, zone) for key, value in times.items()},
        "updated_at": fmt(updated_at, zone),
        "queue": state.queue.model_dump(include={"id", "name", "path"}) if state.queue else None,
        "wait_duration": _wait(state, times, end),
        "call_duration": None if is_chat else handle,
        "chat_duration": handle if is_chat else None,
        "hold_duration": sum(holds) if state.holds else (0 if handle is not None else None),
        "hold_durations": holds,
        "answer_type": _answer_type(state),
        "out_ticket_id": ticket[0],
        "out_ticket_url": ticket[1],
        "recording_permission": state.recording_permission,
        "recording_url": state.recording_url,
        "support_number": created.support_number if created else None,
        "outbound_number": created.outbound_number if created else None,
        "menu_path": _menu_path(state),
        "selected_menu": _selected_menu(state),
        "queue_priority": created.queue_priority if created else None,
        "rating": state.csat.rating if state.csat else None,
        "comment": state.csat.comment if state.csat else None,
        "has_feedback": state.csat is not None,
        "smart_actions": {
            key: state.smart_actions.get(key)
            for key in ("verification", "photos", "videos", "text_input")
        },
        "verified": state.verified,
        "photos": state.photos(),
        "videos": state.videos(),
        "agent_info": (
            state.agent.model_dump(include={"id", "name", "first_name", "last_name"})
            if state.agent
            else None
        ),
        "transfers": [_transfer(t, zone) for t in state.transfers.values()],
        "deflection": _deflection(state),
        "deflection_details": [
            {"deflection": d.deflection, "channel": d.channel, "occurred_at": fmt(at, zone)}
            for d, at in state.deflections
        ],
        "disposition": _disposition(state),
        "in_call_sms": state.sms["in_call"],
        "wait_time_sms": state.sms["wait_time"],
        "participants": [
            {
                "id": p.id,
                "type": p.type,
                "name": p.name,
                "joined_at": fmt(p.joined_at, zone),
                "left_at": fmt(p.left_at, zone),
            }
            for p in state.participants
        ],
        "end_user": _end_user(state, include_end_user_contact),
        "disconnected_by": ended.disconnected_by if ended else None,
        "fail_reason": fail_reason,
        "fail_details": ended.fail_details if ended else None,
        "voicemail_reason": ended.voicemail_reason if ended else None,
        **_chat_metrics(state, is_chat, zone),
        "transcript": _transcript(state, zone) if is_chat and include_transcript else None,
        "event_count": state.event_count,
        "version": version,
    }
    return doc


def validate_metadata(doc: dict[str, Any]) -> SessionMetadata:
    """Check a built file against the output model (tests and the schema use it)."""
    return SessionMetadata.model_validate(doc)


def _times(state: SessionState) -> dict[str, datetime | None]:
    first = state.status_first_at
    assigned = [first[s] for s in ASSIGNED_STATUSES if s in first]
    connected = [first[s] for s in CONNECTED_STATUSES if s in first]
    return {
        "created_at": state.created_at,
        "queued_at": first.get("queued"),
        "assigned_at": min(assigned) if assigned else None,
        "connected_at": min(connected) if connected else None,
        "ends_at": state.ended_at,
        "scheduled_at": _scheduled_at(state),
    }


def _scheduled_at(state: SessionState) -> datetime | None:
    booked = state.created.scheduled_at if state.created else None
    return booked or state.status_first_at.get("scheduled")


def _final_status(state: SessionState) -> tuple[str | None, int | None, str | None]:
    if state.ended is None:
        return "failed", STATUS_CODES["failed"], NO_END_EVENT
    status = state.ended.final_status
    if status is None:
        # The end's own final status was left out: the last final status the session reached.
        final = [s for s, _ in state.status_history if s in FINAL_STATUSES]
        status = final[-1] if final else None
    return status, STATUS_CODES.get(status or ""), state.ended.fail_reason


def _wait(
    state: SessionState, times: dict[str, datetime | None], end: datetime | None
) -> int | None:
    queued = times["queued_at"]
    if queued is None:
        return None
    after = [at for status, at in state.status_history if status in ASSIGNED_STATUSES]
    after = [at for at in after if at >= queued]
    return seconds(queued, after[0] if after else end)


def _handle_time(state: SessionState, end: datetime | None) -> int | None:
    """From the start of handling to the later of the end and the last wrap-up's end."""
    first = state.status_first_at
    start = first.get("preview_pending") if _is_preview(state) else None
    if start is None:
        assigned = [first[s] for s in ASSIGNED_STATUSES if s in first]
        start = min(assigned) if assigned else None
    if start is None:
        # Progressive and predictive campaign calls have no ``assigned``: the agent's
        # connection to the call starts the handling.
        start = first.get("campaign_connected")
    stops = [at for at in (end, state.wrap_up_ended_at) if at is not None]
    if start is None or not stops:
        return None
    return seconds(start, max(stops))


def _is_preview(state: SessionState) -> bool:
    """A preview campaign call: said by the campaign's mode, else by its first status."""
    campaign = state.created.campaign if state.created else None
    if campaign is not None and campaign.mode is not None:
        return campaign.mode == "preview"
    return "preview_pending" in state.status_first_at


def _hold_totals(state: SessionState, end: datetime | None) -> list[int]:
    """Seconds on hold per interaction (a completed transfer starts the next one)."""
    totals = [timedelta(0)] * (state.interaction + 1)
    for hold in state.holds:
        stop = hold.ended_at or end or hold.started_at
        totals[hold.interaction] += max(stop - hold.started_at, timedelta(0))
    return [_whole(total) for total in totals] if state.holds else []


def _answer_type(state: SessionState) -> str | None:
    reached = state.status_first_at.keys()
    if reached & HUMAN_CONNECTED:
        return "human"
    if reached & VIRTUAL_CONNECTED:
        return "virtual"
    return None


def _menu_path(state: SessionState) -> dict[str, Any] | None:
    menu = state.created.menu if state.created else None
    if menu is None:
        return None
    names = menu.path_names or []
    nodes = [n for n in (menu.path or "").split("/") if n]
    return {
        "id": menu.path,
        "materialized_path": menu.path,
        "name": names[-1] if names else menu.name,
        "menu_type": menu.menu_type,
        "items_count": len(nodes) if nodes else (len(names) or None),
    }


def _selected_menu(state: SessionState) -> dict[str, Any] | None:
    menu = state.created.menu if state.created else None
    if menu is None:
        return None
    return {"id": menu.id, "name": menu.name, "menu_type": menu.menu_type}


def _transfer(t: Transfer, zone: tzinfo) -> dict[str, Any]:
    return {
        "id": t.id,
        "status": t.status,
        "from": t.from_,
        "to": t.to,
        "created_at": fmt(t.created_at, zone),
        "updated_at": fmt(t.updated_at, zone),
        "fail_reason": t.fail_reason,
    }


def _deflection(state: SessionState) -> str | None:
    named = [d.deflection for d, _ in state.deflections if d.deflection is not None]
    return named[-1] if named else None


def _disposition(state: SessionState) -> dict[str, Any] | None:
    d = state.disposition
    if d is None:
        return None
    return {
        "code": d.code,
        "note": d.note,
        "list": d.list_,
        "custom_code_id": d.custom_code_id,
        "platform_code_id": d.platform_code_id,
        "custom_list_id": d.custom_list_id,
        "platform_list_id": d.platform_list_id,
        "agent": {"id": d.agent.id, "name": d.agent.name} if d.agent else None,
    }


def _end_user(state: SessionState, include_contact: bool) -> dict[str, Any] | None:
    user = state.created.end_user if state.created else None
    if user is None:
        return None
    out: dict[str, Any] = {"id": user.id, "identifier": user.identifier}
    if include_contact:
        out.update(phone=user.phone, email=user.email)
    return out


def _chat_metrics(state: SessionState, is_chat: bool, zone: tzinfo) -> dict[str, Any]:
    if not is_chat:
        return dict.fromkeys(
            (
                "message_count",
                "end_user_message_count",
                "first_msg_sent_at",
                "last_msg_sent_at",
                "average_response_time",
                "longest_response_time",
            )
        )
    messages = state.messages
    responses = _response_times(state)
    return {
        "message_count": len(messages),
        "end_user_message_count": sum(1 for m, _ in messages if m.sender == "end_user"),
        "first_msg_sent_at": fmt(messages[0][1], zone) if messages else None,
        "last_msg_sent_at": fmt(messages[-1][1], zone) if messages else None,
        "average_response_time": (
            int(sum(responses) / len(responses) + 0.5) if responses else None
        ),
        "longest_response_time": max(responses) if responses else None,
    }


def _response_times(state: SessionState) -> list[int]:
    """Seconds from each end-user message an agent had not yet answered to the agent's answer.

    A response time runs from the first end-user message after the agent's last
    message to the agent's next message: a burst of end-user messages is one
    question, answered once. Virtual-agent and system messages answer nothing.
    """
    responses: list[int] = []
    waiting_since: datetime | None = None
    for message, at in state.messages:
        if message.sender == "end_user" and waiting_since is None:
            waiting_since = at
        elif message.sender == "agent" and waiting_since is not None:
            responses.append(_whole(at - waiting_since))
            waiting_since = None
    return responses


def _transcript(state: SessionState, zone: tzinfo) -> list[dict[str, Any]]:
    """Every chat message in order; ``text`` is ``null`` when the platform withheld it."""
    return [
        {"sender": m.sender, "text": m.text, "sent_at": fmt(at, zone)} for m, at in state.messages
    ]
