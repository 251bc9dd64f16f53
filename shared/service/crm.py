"""CRM work: create each session's record when the rules say, attach every file version.

Two kinds of message reach the CRM function (``shared.messages``):
- a trigger job ``{"session_id", "trigger"}`` that ingest publishes at the moments
  the rules name (assigned, connected, an end-user message, the end);
- the ``session.finalized`` notice, whose file is attached to the record (and
  posted to the generic webhook when one is configured).

Never twice: a record is created only under a Firestore claim, with the CRM's
own idempotency key; after a failed attempt only once a look-up by external id
found nothing (where the CRM has no idempotency tool, that look-up waits out the
CRM's documented index lag first). Which record an end user's session joins is
read from our own routing index, refreshed by reading the record by id: no
decision depends on a CRM search index. Files and notes are checked for on the
record before a retry adds them again.

Never lost: a job the CRM defers for longer than a delivery can wait (throttling,
a daily cap, an index lag, a session not known yet) is parked in Firestore with
its not-before time and released by the scheduled tick (``drain_parked_jobs``);
only a job the CRM refuses for good lands in the dead letters an operator replays.
A malformed message is logged once and acknowledged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from pydantic import ValidationError

from shared.config import Settings
from shared.crm import rules
from shared.crm.budget import RateBudget
from shared.crm.errors import (
    ClaimHeld,
    CrmRejected,
    CrmThrottled,
    NotYet,
    RecordClosed,
    WebhookRejected,
)
from shared.crm.records import CrmRecord, RecordClaim, Route
from shared.crm.rules import ExistingRecord, NewRecord, RecordRef
from shared.domain.errors import TransientError
from shared.domain.files import encode
from shared.domain.session import SessionState, reduce_session
from shared.logs import get_logger, log
from shared.messages import CrmFileJob, CrmJob, CrmTriggerJob, parse_crm_job
from shared.ports import (
    CrmClient,
    CrmRecordStore,
    DeliveryLog,
    EventStore,
    FileTarget,
    ScheduleStore,
    Webhook,
)

logger = get_logger("crm")
T = TypeVar("T")

MAX_INLINE_WAIT = 20.0  # a throttle shorter than this is waited out in place; longer: parked
MAX_CREATE_ATTEMPTS = 8  # then a job failing for transient reasons is parked, not retried hot
CREATED_PATIENCE_SECONDS = 300  # how long a job waits for its session.created to be stored
CREATED_RECHECK_SECONDS = 30  # a job whose session is unknown is looked at again after this
RETRY_LATER_SECONDS = 300  # a job that kept failing transiently waits this long, parked
CALLS_PER_JOB = 4  # CRM calls a job takes, about: the drain releases budget / this a tick
DEFAULT_DRAIN_PER_TICK = 100  # with no call budget configured


@dataclass
class CrmDeps:
    settings: Settings
    events: EventStore
    schedule: ScheduleStore
    records: CrmRecordStore
    deliveries: DeliveryLog
    client: CrmClient | None = None
    target: FileTarget | None = None
    webhook: Webhook | None = None
    budget: RateBudget | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


def handle_crm_data(data: bytes, deps: CrmDeps) -> str:
    """A Pub/Sub message's bytes: JSON, else logged once and acknowledged."""
    try:
        doc = json.loads(data)
    except ValueError as bad:
        log(logger, logging.ERROR, "malformed crm job dropped", error=f"not JSON: {bad}")
        return "malformed"
    return handle_crm_message(doc, deps)


def handle_crm_message(doc: dict[str, Any], deps: CrmDeps) -> str:
    """Run one message; park it when it must wait, dead-letter it when the CRM refuses it."""
    try:
        job = parse_crm_job(doc)
    except ValidationError as bad:
        # Redelivering cannot fix it: one line naming what is wrong, then acknowledged.
        first = bad.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "message"
        log(logger, logging.ERROR, "malformed crm job dropped", field=where, error=first["msg"])
        return "malformed"
    try:
        if isinstance(job, CrmTriggerJob):
            return on_trigger(job.session_id, job.trigger, deps, published_at=job.published_at)
        return on_finalized(job, deps)
    except CrmRejected as refused:
        return _dead_letter(job, doc, str(refused), deps)
    except ClaimHeld:
        raise  # another worker holds it for a lease: a redelivery finds it done
    except NotYet as wait:
        return _park(job, doc, wait.not_before, wait.reason, deps)
    except CrmThrottled as throttled:
        not_before = deps.clock() + timedelta(seconds=throttled.retry_after_seconds)
        return _park(job, doc, not_before, f"throttled: {throttled}", deps)
    except TransientError as failure:
        if deps.records.get(job.session_id).attempts < MAX_CREATE_ATTEMPTS:
            raise
        not_before = deps.clock() + timedelta(seconds=RETRY_LATER_SECONDS)
        return _park(job, doc, not_before, f"failing: {failure}", deps)


def on_trigger(
    session_id: str,
    trigger: rules.Trigger,
    deps: CrmDeps,
    *,
    published_at: datetime | None = None,
) -> str:
    if deps.client is None:
        return "no_crm"
    state = reduce_session(session_id, deps.events.load_events(session_id))
    if state.created is None:
        now = deps.clock()
        waited = (now - (published_at or now)).total_seconds()
        if waited < CREATED_PATIENCE_SECONDS:
            # A title and tags need the session type: wait for it rather than guess.
            recheck = now + timedelta(seconds=CREATED_RECHECK_SECONDS)
            raise NotYet(f"{session_id}: no session.created yet ({waited:.0f} s)", recheck)
    if not rules.should_create(state, trigger, deps.settings.crm):
        return "not_due"
    return ensure_record(state, deps)


def on_finalized(job: CrmFileJob, deps: CrmDeps) -> str:
    session_id, version = job.session_id, job.version
    outcome = "no_crm"
    if deps.webhook is not None:
        outcome = _post_webhook(job, deps)
    if deps.client is None and deps.target is None:
        return outcome
    record = deps.records.get(session_id)
    if record.record_id is None:
        state = reduce_session(session_id, deps.events.load_events(session_id))
        if deps.client is None or not rules.should_create(state, "ended", deps.settings.crm):
            return "no_record"
        ensure_record(state, deps)
        record = deps.records.get(session_id)
    if record.attached_version >= version:
        return "duplicate"
    marker = f"{job.filename} (version {version})"
    target = deps.target
    assert target is not None and record.record_id is not None
    if record.attaching_version == version:
        # An earlier attempt started this very attach: did its answer get lost?
        record_id = record.record_id
        found = _call(deps, lambda: target.find_file(record_id, marker))
        if found is not None:
            deps.records.attached(session_id, version, found)
            return "attached"
    deps.records.attaching(session_id, version)
    content = encode(job.metadata)
    try:
        attachment = _attach(deps, record, job.filename, content, marker)
    except RecordClosed:
        record = _follow_up(session_id, record, deps)
        attachment = _attach(deps, record, job.filename, content, marker)
    deps.records.attached(session_id, version, attachment)
    return "attached"


def _attach(deps: CrmDeps, record: CrmRecord, filename: str, content: bytes, marker: str) -> str:
    target, record_id = deps.target, record.record_id
    assert target is not None and record_id is not None
    return _call(
        deps,
        lambda: target.attach_file(
            record_id,
            filename,
            content,
            "application/json",
            replaces=record.attachment_id,
            marker=marker,
        ),
    )


def _follow_up(session_id: str, record: CrmRecord, deps: CrmDeps) -> CrmRecord:
    """The session's record closed for good: a follow-up record takes the session and its file."""
    client = deps.client
    assert client is not None and record.record_id is not None
    state = reduce_session(session_id, deps.events.load_events(session_id))
    built = rules.build_record(state, deps.settings.crm, deps.settings.zone)
    follow = replace(built, external_id=f"{built.external_id}-followup-{record.record_id}")
    ref = _call(deps, lambda: client.create_record(follow, follow_up_of=record.record_id))
    deps.records.moved(session_id, ref.id, ref.url)
    _route_to(deps, built, ref)
    deps.schedule.request_rewrite(session_id)  # the file must carry the follow-up's id
    log(logger, logging.INFO, "crm follow-up record", session_id=session_id, record=ref.id)
    return replace(record, record_id=ref.id, url=ref.url, attachment_id=None)


def ensure_record(state: SessionState, deps: CrmDeps) -> Literal["created", "exists"]:
    """Create (or attach to) the session's record once, whatever retries and races say."""
    if deps.records.get(state.session_id).record_id:
        return "exists"
    claim = deps.records.claim(state.session_id, lease=deps.settings.claim_lease)
    if claim is None:
        return "exists"
    built = rules.build_record(state, deps.settings.crm, deps.settings.zone)
    try:
        ref = _recover(built, claim, deps) if claim.earlier_attempt else None
        if ref is None:
            ref = _create_or_attach(state, built, claim, deps)
    except (CrmRejected, CrmThrottled):
        deps.records.release(claim, nothing_created=True)  # the CRM answered: nothing made
        raise
    except Exception:
        deps.records.release(claim)
        raise
    deps.records.created(claim, ref.id, ref.url)
    deps.schedule.request_rewrite(state.session_id)  # the file must carry the record's id
    log(logger, logging.INFO, "crm record ready", session_id=state.session_id, record=ref.id)
    return "created"


def _recover(built: NewRecord, claim: RecordClaim, deps: CrmDeps) -> RecordRef | None:
    """After an attempt that may have created the record: find it before creating again.

    A CRM without an idempotency tool (Freshdesk) is searched through an index that
    lags: the look-up waits until the lag since that attempt has passed.
    """
    client = deps.client
    assert client is not None
    lag = client.index_lag_seconds
    if lag > 0 and claim.last_attempt_at is not None:
        ready = claim.last_attempt_at + timedelta(seconds=lag)
        if deps.clock() < ready:
            raise NotYet(f"{claim.session_id}: waiting out {client.name}'s index lag", ready)
    found = _call(deps, lambda: client.find_by_external_id(built.external_id))
    if found is not None:
        _call(deps, lambda: client.complete(found.id, built))
        _route_to(deps, built, found)
    return found


def _create_or_attach(
    state: SessionState, built: NewRecord, claim: RecordClaim, deps: CrmDeps
) -> RecordRef:
    crm, client = deps.settings.crm, deps.client
    assert client is not None
    user, leaf = built.end_user_id, built.leaf_queue
    route = deps.records.route(user, leaf) if user and leaf else None
    if crm.attach_to_open_record_same_leaf_queue and route is not None:
        existing = _call(deps, lambda: client.get_record(route.record_id))
        if existing is None:
            deps.records.drop_route(route.end_user_id, route.leaf_queue, route.record_id)
        else:
            ref = _attach_to(state, built, route, existing, claim, deps)
            if ref is not None:
                return ref
    deps.records.creating(state.session_id)
    ref = _call(deps, lambda: client.create_record(built))
    _route_to(deps, built, ref)
    return ref


def _attach_to(
    state: SessionState,
    built: NewRecord,
    route: Route,
    existing: ExistingRecord,
    claim: RecordClaim,
    deps: CrmDeps,
) -> RecordRef | None:
    """The routed record takes the session (reopened, or followed up), else ``None``."""
    client = deps.client
    assert client is not None
    # What the record says wins; our index fills in what this CRM does not keep on it.
    candidate = replace(
        existing,
        end_user_id=existing.end_user_id or route.end_user_id,
        leaf_queue=existing.leaf_queue or route.leaf_queue,
        url=existing.url or route.url,
    )
    decision = rules.route(state, deps.settings.crm, [candidate], deps.clock())
    _refresh_route(deps, route, candidate)
    if not isinstance(decision, rules.AttachTo):
        return None
    if decision.reopen and candidate.locked:
        deps.records.creating(state.session_id)
        follow = replace(built, external_id=f"{built.external_id}-followup-{candidate.id}")
        ref = _call(deps, lambda: client.create_record(follow, follow_up_of=candidate.id))
        _route_to(deps, built, ref)
        return ref
    if decision.reopen:
        _call(deps, lambda: client.reopen(candidate.id))
    _note(candidate.id, built, claim, deps)
    ref = RecordRef(candidate.id, candidate.url)
    _route_to(deps, built, ref, created_at=route.created_at)
    return ref


def _note(record_id: str, built: NewRecord, claim: RecordClaim, deps: CrmDeps) -> None:
    """A short note saying the session joined the record, once (checked after a lost answer)."""
    client = deps.client
    assert client is not None
    marker = f"[{built.external_id}]"
    if claim.retry and any(marker in body for body in _call(deps, lambda: client.notes(record_id))):
        return
    body = f"Session {built.session_id} attached: {built.title} {marker}"
    _call(deps, lambda: client.add_note(record_id, body))
    deps.records.noted(built.session_id)


def _route_to(
    deps: CrmDeps, built: NewRecord, ref: RecordRef, *, created_at: datetime | None = None
) -> None:
    """Our routing index: this end user's record in this leaf queue is ``ref``, open."""
    if not (built.end_user_id and built.leaf_queue):
        return
    now = deps.clock()
    deps.records.set_route(
        Route(built.end_user_id, built.leaf_queue, ref.id, ref.url, "open", created_at or now, now)
    )


def _refresh_route(deps: CrmDeps, route: Route, seen: ExistingRecord) -> None:
    status: Literal["open", "solved", "closed"] = (
        "open" if seen.is_open else ("closed" if seen.locked else "solved")
    )
    deps.records.set_route(
        replace(
            route,
            status=status,
            status_at=seen.closed_at or route.status_at,
            locked=seen.locked,
            url=seen.url or route.url,
        )
    )


def _call(deps: CrmDeps, fn: Callable[[], T]) -> T:
    """One CRM operation; a short throttle is waited out, a long one raised (and parked).

    The budget paces each HTTP request (the client's request hook waits for a slot);
    here a throttle answer only closes the budget for the time the CRM asked.
    """
    for attempt in range(3):
        try:
            return fn()
        except CrmThrottled as throttled:
            if deps.budget is not None:
                deps.budget.block_for(throttled.retry_after_seconds)
            if throttled.retry_after_seconds > MAX_INLINE_WAIT or attempt == 2:
                raise
    raise AssertionError("unreachable")


# -- parked jobs ---------------------------------------------------------------------------


def _park(
    job: CrmJob, doc: dict[str, Any], not_before: datetime, reason: str, deps: CrmDeps
) -> str:
    kept = dict(doc)
    if isinstance(job, CrmTriggerJob) and job.published_at is None:
        kept["published_at"] = deps.clock().isoformat()  # its patience counts from now
    deps.records.park(job.job_id, kept, not_before, reason)
    log(
        logger,
        logging.WARNING,
        "crm job parked",
        session_id=job.session_id,
        job=job.job_id,
        not_before=not_before.isoformat(timespec="seconds"),
        reason=reason[:200],
    )
    return "parked"


def drain_limit(settings: Settings) -> int:
    """Jobs one tick may release: what the CRM call budget allows in a minute."""
    per_minute = settings.crm_calls_per_minute
    return max(1, per_minute // CALLS_PER_JOB) if per_minute else DEFAULT_DRAIN_PER_TICK


def drain_parked_jobs(
    records: CrmRecordStore,
    publish: Callable[[dict[str, Any]], object],
    *,
    limit: int,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Release the parked jobs that are due, oldest first, at most ``limit``: publish, forget.

    Published first, forgotten after: a crash in between publishes a job twice, which
    its handling makes harmless. A job parked again meanwhile is kept (``unpark`` checks).
    """
    now = now or datetime.now(UTC)
    released = 0
    for parked in records.due_parked(now, limit):
        publish(parked.job)
        records.unpark(parked)
        released += 1
    stats = records.parked_stats(now)
    report = {"released": released, **stats.as_dict()}
    log(logger, logging.INFO, "crm parked jobs", **report)
    return report


# -- webhook and dead letters --------------------------------------------------------------


def _post_webhook(job: CrmFileJob, deps: CrmDeps) -> str:
    key = f"{job.session_id}:{job.version}"
    if (deps.deliveries.get(key) or {}).get("status") == "delivered":
        log(
            logger,
            logging.INFO,
            "webhook post already made",
            session_id=job.session_id,
            version=job.version,
        )
        return "duplicate"
    payload = {
        "session_id": job.session_id,
        "version": job.version,
        "object": f"gs://{job.bucket}/{job.metadata_object}",
        "datastream_object": f"gs://{job.bucket}/{job.datastream_object}",
        "metadata": job.metadata,
    }
    assert deps.webhook is not None
    try:
        status = deps.webhook.post(payload, idempotency_key=key)
    except WebhookRejected as rejected:
        deps.deliveries.record(key, status="rejected", detail=str(rejected))
        raise CrmRejected("webhook", "post", str(rejected)) from None
    deps.deliveries.record(key, status="delivered", http_status=status, target="webhook")
    log(
        logger,
        logging.INFO,
        "webhook post made",
        session_id=job.session_id,
        version=job.version,
        http_status=status,
    )
    return "delivered"


def _dead_letter(job: CrmJob, doc: dict[str, Any], error: str, deps: CrmDeps) -> str:
    deps.records.dead_letter(job.job_id, doc, error)
    log(logger, logging.ERROR, "crm job dead-lettered", session_id=job.session_id, error=error)
    return "dead_lettered"
