"""Finalize due sessions: write their files, announce them, mark them written.

A finalize worker runs ``finalize_job`` on each job a tick handed out (see
``shared.service.tick``); ``finalize_due`` does the same in one loop, for tools and
tests that run without the fan-out.

Per session: claim (a transaction; a second finalizer backs off) -> read the
events -> render -> write the data stream, then the metadata file under a
generation precondition -> publish the ``session.finalized`` notice -> record
the write. A crash anywhere leaves the session due with an expiring claim;
the next tick redoes the steps, and the precondition turns a repeated write of
the same version into a repair of that object rather than a second version.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.config import Settings
from shared.domain.files import (
    SessionFiles,
    datastream_name,
    encode,
    metadata_name,
    render_files,
)
from shared.domain.schedule import stuck_due
from shared.logs import get_logger, log
from shared.messages import FinalizedNotice, FinalizeJob
from shared.ports import (
    Claim,
    EventStore,
    FileSink,
    GenerationMismatch,
    Publisher,
    ScheduleStore,
    TickBook,
)

logger = get_logger("finalize")
RETRY_AFTER_FAILURE = timedelta(minutes=2)
# The session's CRM record (id, url), once known: the file carries it.
TicketLookup = Callable[[str], tuple[str | None, str | None]]


def no_ticket(session_id: str) -> tuple[str | None, str | None]:
    return None, None


@dataclass
class FinalizeReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return dict(vars(self))


def finalize_due(
    now: datetime,
    *,
    events: EventStore,
    schedule: ScheduleStore,
    files: FileSink,
    publisher: Publisher,
    settings: Settings,
    ticket_of: TicketLookup = no_ticket,
) -> FinalizeReport:
    report = FinalizeReport()
    for session_id in schedule.due_sessions(now, settings.finalize_batch_size):
        outcome = finalize_session(
            session_id,
            now,
            events=events,
            schedule=schedule,
            files=files,
            publisher=publisher,
            settings=settings,
            ticket_of=ticket_of,
        )
        getattr(report, outcome).append(session_id)
    return report


def read_job(data: bytes) -> FinalizeJob | None:
    """The job a tick handed out; ``None`` (one ERROR line) when it is not one.

    Why not raise: a malformed job fails the same way on every delivery, so a retry
    only delays its dead-lettering; the ticks that follow find its sessions still due.
    """
    try:
        return FinalizeJob.model_validate_json(data)
    except ValueError as bad:
        log(
            logger,
            logging.ERROR,
            "finalize job is malformed; acknowledged, its sessions stay due",
            detail=str(bad).splitlines()[0][:300],
            data=data[:200].decode("utf-8", "replace"),
        )
        return None


def finalize_job(
    job: FinalizeJob,
    *,
    events: EventStore,
    schedule: ScheduleStore,
    ticks: TickBook,
    files: FileSink,
    publisher: Publisher,
    settings: Settings,
    ticket_of: TicketLookup = no_ticket,
) -> FinalizeReport:
    """Finalize the job's sessions at the tick's ``now``; report to the tick's book.

    Each session goes through the same claim as ever, so a job delivered twice, or
    two jobs naming one session, still give one version per write.
    """
    report = FinalizeReport()
    for session_id in job.session_ids:
        outcome = finalize_session(
            session_id,
            job.now,
            events=events,
            schedule=schedule,
            files=files,
            publisher=publisher,
            settings=settings,
            ticket_of=ticket_of,
        )
        getattr(report, outcome).append(session_id)
    ticks.record_job(job.tick_id, job.job, report.as_dict())
    return report


def finalize_session(
    session_id: str,
    now: datetime,
    *,
    events: EventStore,
    schedule: ScheduleStore,
    files: FileSink,
    publisher: Publisher,
    settings: Settings,
    ticket_of: TicketLookup = no_ticket,
) -> str:
    """Write one due session; return ``written``, ``unchanged``, ``deferred`` or ``skipped``."""
    try:
        claim = schedule.claim(session_id, now, lease=settings.claim_lease)
    except Exception:
        # A claim that cannot be taken (its transaction aborted again and again while
        # other finalizers contend for the document) must not fail the whole tick: a
        # redelivered tick adds one more contender. The session stays due.
        logger.exception("claiming failed", extra={"fields": {"session_id": session_id}})
        return "failed"
    if claim is None:
        return "skipped"
    try:
        return _write_claimed(claim, now, events, schedule, files, publisher, settings, ticket_of)
    except Exception:
        # One session that cannot be written (a dependency down, a bug on odd data) must
        # not stop the others: log it and give it back, due again a little later.
        logger.exception("finalizing failed", extra={"fields": {"session_id": session_id}})
        schedule.back_off(claim, now + RETRY_AFTER_FAILURE)
        return "failed"


def _write_claimed(
    claim: Claim,
    now: datetime,
    events: EventStore,
    schedule: ScheduleStore,
    files: FileSink,
    publisher: Publisher,
    settings: Settings,
    ticket_of: TicketLookup,
) -> str:
    session_id = claim.session_id
    stored = events.load_events(session_id, inline=claim.inline)
    if claim.schedule.awaits_stuck_timeout:
        exact = stuck_due(stored, settings.stuck_timeout)
        if exact > now:  # the provisional time was early: the first event stored was not
            schedule.defer(claim, exact)
            return "deferred"
    ticket = ticket_of(session_id)

    def render(version: int) -> SessionFiles:
        return render_files(
            session_id,
            stored,
            version=version,
            updated_at=now,
            zone=settings.zone,
            include_end_user_contact=settings.include_end_user_contact,
            include_transcript=settings.include_transcript,
            ticket=ticket,
        )

    rendered = render(claim.schedule.version + 1)
    if rendered.content_hash == claim.content_hash:
        # A late duplicate or an event the last write already had: nothing new to say.
        schedule.complete(
            claim,
            version=claim.schedule.version,
            generation=claim.metadata_generation,
            content_hash=rendered.content_hash,
        )
        return "unchanged"
    prefix = settings.object_prefix
    name = metadata_name(prefix, session_id)
    # The metadata first: its generation precondition is the fence. A finalizer stalled
    # past its lease (another took the session over meanwhile) learns it here, or from
    # ``holds`` just after, and then writes nothing more and announces nothing; the data
    # stream, written without precondition, therefore comes only from the claim's holder.
    written = _write_metadata(files, name, rendered, claim, schedule, render, publisher, settings)
    if written is None:
        return "skipped"
    generation, rendered = written
    version = rendered.version
    if not schedule.holds(claim):
        log(logger, logging.WARNING, "claim lost while writing", session_id=session_id)
        return "skipped"
    files.write(
        datastream_name(prefix, session_id), encode(rendered.datastream), if_generation_match=None
    )
    _announce(publisher, files, settings, session_id, rendered.metadata)
    if not schedule.complete(
        claim, version=version, generation=generation, content_hash=rendered.content_hash
    ):
        log(logger, logging.WARNING, "claim lost before completion", session_id=session_id)
        return "skipped"
    lag = (now - claim.schedule.due_at).total_seconds()
    log(
        logger,
        logging.INFO,
        "session finalized",
        session_id=session_id,
        version=version,
        lag_seconds=round(lag, 3),
    )
    return "written"


def _write_metadata(
    files: FileSink,
    name: str,
    rendered: SessionFiles,
    claim: Claim,
    schedule: ScheduleStore,
    render: Callable[[int], SessionFiles],
    publisher: Publisher,
    settings: Settings,
) -> tuple[int, SessionFiles] | None:
    """Write version N over generation G; after a crash, repair the N already there.

    ``None`` when this finalizer lost its claim: whoever holds it now writes. Returns the
    generation and what was written: version N + 1 when the N already there holds other
    content (an earlier attempt wrote and maybe announced it, then late events came), so
    that one version never stands for two contents downstream. That N is announced
    first, with the content it holds: the earlier writer may have died, or lost its claim,
    before announcing it, and every version written is announced (a repeat is harmless:
    the same version, the same content, deduplicated downstream by session and version).
    """
    try:
        data = encode(rendered.metadata)
        return files.write(name, data, if_generation_match=claim.metadata_generation), rendered
    except GenerationMismatch:
        current = files.read(name)
        if current is None or not schedule.holds(claim):
            return None
        # The object moved since G while we still hold the claim: an earlier finalizer
        # wrote and died before recording it. The same content: replace that object in
        # place (same version). Other content: it is the next version.
        there = json.loads(current.data)
        if _stable(there) != _stable(rendered.metadata):
            if isinstance(there.get("version"), int):
                _announce(publisher, files, settings, claim.session_id, there)
            rendered = render(max(int(there.get("version") or 0), rendered.version) + 1)
        data = encode(rendered.metadata)
        return files.write(name, data, if_generation_match=current.generation), rendered


def _announce(
    publisher: Publisher,
    files: FileSink,
    settings: Settings,
    session_id: str,
    metadata: dict[str, Any],
) -> None:
    """Publish the ``session.finalized`` notice of the version ``metadata`` holds."""
    prefix = settings.object_prefix
    notice = FinalizedNotice(
        session_id=session_id,
        version=metadata["version"],
        bucket=files.bucket_name,
        metadata_object=metadata_name(prefix, session_id),
        datastream_object=datastream_name(prefix, session_id),
        metadata=metadata,
    )
    publisher.publish_json(
        settings.finalized_topic,
        notice.model_dump(),
        session_id=session_id,
        version=str(notice.version),
    )


def _stable(metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata but the fields every write changes."""
    return {k: v for k, v in metadata.items() if k not in ("updated_at", "version")}
