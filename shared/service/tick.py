"""A finalizer tick: what time it stands for, the finalize run, and its record.

A tick is acknowledged whatever its body: a malformed one is logged once, never retried.

The record (outcome -> session ids, under the tick's message id) is how whoever
sent the tick learns that it is done and what it wrote.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from pydantic import ValidationError

from shared.config import Settings
from shared.domain.events import parse_timestamp
from shared.logs import get_logger, log
from shared.messages import FinalizeTick
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


def read_tick(data: bytes) -> FinalizeTick:
    """The tick's body; one that does not fit is logged once and read as a plain tick.

    Cloud Scheduler's ticks carry nothing we need: a body we cannot read must not
    turn into retries of the whole finalizer.
    """
    try:
        return FinalizeTick.model_validate_json(data or b"{}")
    except ValidationError as bad:
        log(
            logger,
            logging.WARNING,
            "malformed tick read as a plain tick",
            detail=bad.errors(include_url=False, include_input=False)[0]["msg"],
        )
        return FinalizeTick()


def tick_time(data: bytes, settings: Settings, *, clock: Clock = _utc_now) -> datetime | None:
    """The tick's ``now`` when configuration allows it, else the clock's.

    ``None`` when the tick carries a ``now`` that is not an RFC 3339 date-time: the
    sender asked for a time we cannot read, so nothing runs (logged, acknowledged).
    """
    carried = read_tick(data).now
    if carried is None:
        return clock()
    if not settings.allow_tick_now:
        log(logger, logging.WARNING, "tick carried 'now' but ALLOW_TICK_NOW is off; ignored")
        return clock()
    try:
        return parse_timestamp(carried)
    except ValueError as bad:
        log(
            logger,
            logging.ERROR,
            "tick 'now' is not an RFC 3339 date-time; tick dropped",
            now=carried,
            detail=str(bad),
        )
        return None


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
    if now is None:
        return FinalizeReport()
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
