"""A finalizer tick: what time it stands for, and handing the due sessions out.

A tick is acknowledged whatever its body: a malformed one is logged once, never retried.

Deployed, the tick only finds due sessions (the indexed due query, page by page)
and publishes them as finalize jobs, ``finalize_job_size`` sessions each, in
batched publishes (``dispatch_due``); finalize workers, which scale out with the
jobs, write the files (``shared.service.finalize.finalize_job``) and report per job.
A tick hands jobs out only once the previous round is accounted for, so a backlog
is handed out once, not every minute. ``run_tick`` finalizes in-process, for tools
and tests without the fan-out. Either way the tick's record (outcome -> session
ids, under the tick's message id) tells whoever sent it that it is done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from shared.config import Settings
from shared.domain.events import parse_timestamp
from shared.logs import get_logger, log
from shared.messages import FinalizeJob, FinalizeTick
from shared.ports import (
    Clock,
    EventStore,
    FileSink,
    Publisher,
    PubsubMessage,
    ScheduleStore,
    TickBook,
    TickLog,
)
from shared.service.finalize import FinalizeReport, TicketLookup, finalize_due, no_ticket

logger = get_logger("tick")
ROUND_WAIT_SECONDS = 30.0  # how long a tick waits for the previous round before giving up
ROUND_POLL_SECONDS = 0.5


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


@dataclass(frozen=True)
class Dispatch:
    """What one tick handed out."""

    tick_id: str
    jobs: int
    sessions: int
    busy_with: str | None = None


def dispatch_due(
    now: datetime,
    *,
    tick_id: str,
    schedule: ScheduleStore,
    ticks: TickBook,
    publisher: Publisher,
    settings: Settings,
    sleep: Callable[[float], None] = time.sleep,
) -> Dispatch:
    """Publish every session due at ``now`` as finalize jobs; record how many."""
    busy_with = ticks.begin_round(tick_id, settings.finalize_round_lease)
    waited = 0.0
    while busy_with is not None and waited < ROUND_WAIT_SECONDS:
        # Two ticks close together (a retried or doubled tick, a test): the first may be
        # about to finish; wait a little rather than leave the due sessions a minute.
        sleep(ROUND_POLL_SECONDS)
        waited += ROUND_POLL_SECONDS
        busy_with = ticks.begin_round(tick_id, settings.finalize_round_lease)
    if busy_with is not None:
        log(logger, logging.INFO, "previous round still out", tick_id=tick_id, busy_with=busy_with)
        ticks.record_dispatch(tick_id, now, jobs=0, sessions=0, busy_with=busy_with)
        return Dispatch(tick_id, 0, 0, busy_with)
    jobs = sessions = 0
    pending: list[str] = []
    size = settings.finalize_job_size

    def publish(session_ids: list[str]) -> None:
        nonlocal jobs
        batch = []
        for start in range(0, len(session_ids), size):
            job = FinalizeJob(
                tick_id=tick_id, job=jobs, now=now, session_ids=session_ids[start : start + size]
            )
            batch.append((job.model_dump(mode="json"), {"tick_id": tick_id}))
            jobs += 1
        publisher.publish_json_many(settings.finalize_jobs_topic, batch)

    for page in schedule.due_pages(
        now, page_size=settings.finalize_batch_size, limit=settings.finalize_tick_limit
    ):
        sessions += len(page)
        pending += page
        whole = len(pending) - len(pending) % size
        if whole:
            publish(pending[:whole])
            pending = pending[whole:]
    if pending:
        publish(pending)
    ticks.record_dispatch(tick_id, now, jobs=jobs, sessions=sessions, busy_with=None)
    log(logger, logging.INFO, "tick dispatched", tick_id=tick_id, jobs=jobs, sessions=sessions)
    return Dispatch(tick_id, jobs, sessions)
