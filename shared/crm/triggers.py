"""Which events are moments the CRM rules may act on (seed 004)."""

from __future__ import annotations

from shared.crm.rules import Trigger
from shared.domain.events import ChatMessage, Event, StatusChanged

STATUS_TRIGGERS: dict[str, Trigger] = {
    "assigned": "assigned",
    "connected": "connected",
    "campaign_connected": "connected",
}


def crm_trigger(event: Event) -> Trigger | None:
    payload = event.payload
    if isinstance(payload, StatusChanged):
        return STATUS_TRIGGERS.get(payload.status or "")
    if isinstance(payload, ChatMessage) and payload.sender == "end_user":
        return "end_user_message"
    if event.type == "session.ended":
        return "ended"
    return None
