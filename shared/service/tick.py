"""A finalizer tick: what time it stands for, the finalize run, and its record.

The record (outcome -> session ids, under the tick's message id) is how whoever
sent the tick learns that it is done and what it wrote.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from shared.config import Settings
from shared.domain.events import parse_timestamp
from shared.logs import get_logger, log
from shared.ports import (
    Clock,
    EventStore,
    FileSink,
    Publisher,
    PubsubMessage,
    ScheduleStore,
    TickLog,
)
from shared.service.finalize import FinalizeReport, TicketLookup, finalize_due, no_ticket

logger = get_logger("tick")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def tick_time(data: bytes, settings: Settings, *, clock: Clock = _utc_now) -> datetime:
    """The tick's ``now`` when configuration allows it, else the clock's."""
    try:
        body = json.loads(data or b"{}")
    except json.JSONDecodeError:
        body = {}
    carried = body.get("now") if isinstance(body, dict) else None
    if carried is None:
        return clock()
    if not settings.allow_tick_now:
        log(logger, logging.WARNING, "tick carried 'now' but ALLOW_TICK_NOW is off; ignored")
        return clock()
    return parse_timestamp(carried)


def run_tick(
    message: PubsubMessage,
    *,
    events: EventStore,
    schedule: ScheduleStore,
    files: FileSink,
    publisher: Publisher,
    ticks: TickLog,
    settings: Settings,
    ticket_of: TicketLookup = no_ticket,
    clock: Clock = _utc_now,
) -> FinalizeReport:
    """Finalize what is due at the tick's time, then record what the tick did."""
    now = tick_time(message.data, settings, clock=clock)
    report = finalize_due(
        now,
        events=events,
        schedule=schedule,
        files=files,
        publisher=publisher,
        settings=settings,
        ticket_of=ticket_of,
    )
    ticks.record_tick(message.message_id, now, report.as_dict())
    return report
