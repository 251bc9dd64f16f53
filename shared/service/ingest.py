"""Ingest one platform event: validate, store once, move the session's schedule.

Bad input is kept whole in quarantine and acknowledged (returning normally);
a failing dependency raises, so that Pub/Sub redelivers. Both halves are
idempotent: a redelivery finds its event already stored and its quarantine
record already written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from shared.config import Settings
from shared.crm.triggers import crm_trigger
from shared.domain.errors import BadInput
from shared.domain.events import parse_event
from shared.logs import get_logger, log
from shared.ports import (
    Clock,
    EventStore,
    Publisher,
    PubsubMessage,
    QuarantineRecord,
    QuarantineStore,
    ScheduleStore,
)

logger = get_logger("ingest")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class IngestResult:
    outcome: Literal["stored", "duplicate", "quarantined"]
    session_id: str | None = None
    reason: str | None = None


def ingest_message(
    message: PubsubMessage,
    *,
    events: EventStore,
    schedule: ScheduleStore,
    quarantine: QuarantineStore,
    settings: Settings,
    publisher: Publisher | None = None,
    clock: Clock = _utc_now,
) -> IngestResult:
    try:
        event = parse_event(message.data)
    except BadInput as bad:
        quarantine.keep(
            QuarantineRecord(
                id=message.message_id,
                raw=message.data,
                attributes=message.attributes,
                reason=bad.reason,
                detail=bad.detail,
                received_at=clock(),
            )
        )
        log(
            logger,
            logging.ERROR,
            f"rejected message {message.message_id}: {bad.reason}",
            reason=bad.reason,
            detail=bad.detail,
            message_id=message.message_id,
            session_id=message.attributes.get("session_id"),
        )
        return IngestResult("quarantined", message.attributes.get("session_id"), bad.reason)
    delay, stuck = settings.finalize_delay, settings.stuck_timeout
    # The session's first event and its end go into the session document with the
    # schedule (one write each); any other event is stored, then moves the schedule.
    kept = schedule.keep_event(event, delay=delay, stuck_timeout=stuck)
    is_new = events.add_event(event) if kept is None else kept
    # Placed and applied all the same: each such field is left out of the file (one line
    # each, once per event: a redelivery finds the event stored and logs nothing).
    for issue in event.issues if is_new else ():
        log(
            logger,
            logging.WARNING,
            f"event {event.event_id} of session {event.session_id}: {issue}",
            session_id=event.session_id,
            event_id=event.event_id,
            type=event.type,
            field=issue.field,
            expected=issue.expected,
        )
    if kept is None:
        # Runs for a redelivery too: the first delivery may have died before this step.
        schedule.note_event(event, delay=delay, stuck_timeout=stuck)
    trigger = crm_trigger(event)
    if trigger and publisher is not None and settings.crm.kind not in ("none", "webhook"):
        # Also for a duplicate: the first delivery may have died before publishing.
        publisher.publish_json(
            settings.crm_jobs_topic,
            {
                "session_id": event.session_id,
                "trigger": trigger,
                "event_id": event.event_id,
                "published_at": clock().isoformat(),
            },
            session_id=event.session_id,
        )
    return IngestResult("stored" if is_new else "duplicate", event.session_id)
