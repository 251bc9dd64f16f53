"""CRM work: create each session's record when the rules say, attach every file version.

Two kinds of message reach the CRM function:
- a trigger job ``{"session_id", "trigger"}`` that ingest publishes at the moments
  the rules name (assigned, connected, an end-user message, the end);
- the ``session.finalized`` notice, whose file is attached to the record (and
  posted to the generic webhook when one is configured).

Never twice: a record is created only under a Firestore claim, with the CRM's
own idempotency key, and after a failed attempt only once a look-up by external
id found nothing. Never lost: every failure either raises (Pub/Sub redelivers),
or, when the CRM refuses for good, lands in the dead letters an operator replays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from shared.adapters.crm.base import CrmClient, FileTarget, RecordRef
from shared.adapters.firestore_crm import ClaimHeld, FirestoreCrmRecords
from shared.adapters.firestore_deliveries import FirestoreDeliveries
from shared.adapters.webhook import WebhookClient, WebhookRejected
from shared.config import Settings
from shared.crm import rules
from shared.crm.budget import RateBudget
from shared.crm.errors import CrmRejected, CrmThrottled
from shared.domain.errors import TransientError
from shared.domain.files import encode
from shared.domain.session import SessionState, reduce_session
from shared.logs import get_logger, log
from shared.ports import EventStore, ScheduleStore

logger = get_logger("crm")
T = TypeVar("T")

MAX_INLINE_WAIT = 20.0  # a throttle shorter than this is waited out in place
MAX_CREATE_ATTEMPTS = 8  # then the job is dead-lettered for an operator
CREATED_PATIENCE_SECONDS = 300  # how long a job waits for its session.created to be stored


class SessionIncomplete(TransientError):
    """The session's ``session.created`` is not stored yet (shuffled delivery): retry soon."""


@dataclass
class CrmDeps:
    settings: Settings
    events: EventStore
    schedule: ScheduleStore
    records: FirestoreCrmRecords
    deliveries: FirestoreDeliveries
    client: CrmClient | None = None
    target: FileTarget | None = None
    webhook: WebhookClient | None = None
    budget: RateBudget | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


def handle_crm_message(doc: dict[str, Any], deps: CrmDeps) -> str:
    """Route one message; dead-letter it when the CRM refuses it for good."""
    try:
        if "trigger" in doc:
            return on_trigger(doc["session_id"], doc["trigger"], deps, published_at=_when(doc))
        return on_finalized(doc, deps)
    except CrmRejected as refused:
        return _dead_letter(doc, str(refused), deps)
    except TransientError as failure:
        if isinstance(failure, ClaimHeld | SessionIncomplete | CrmThrottled):
            raise  # "not now" is no failure: the job waits its turn, never for an operator
        attempts = deps.records.get(doc["session_id"]).attempts
        if attempts < MAX_CREATE_ATTEMPTS:
            raise
        return _dead_letter(doc, f"gave up after {attempts} attempts: {failure}", deps)


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
    if state.created is None and published_at is not None:
        waited = (deps.clock() - published_at).total_seconds()
        if waited < CREATED_PATIENCE_SECONDS:
            # A title and tags need the session type: wait for it rather than guess.
            raise SessionIncomplete(f"{session_id}: no session.created yet ({waited:.0f} s)")
    if not rules.should_create(state, trigger, deps.settings.crm):
        return "not_due"
    return ensure_record(state, deps)


def on_finalized(notice: dict[str, Any], deps: CrmDeps) -> str:
    session_id, version = notice["session_id"], int(notice["version"])
    outcome = "no_crm"
    if deps.webhook is not None:
        outcome = _post_webhook(notice, deps)
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
    attachment = _call(
        deps,
        lambda: deps.target.attach_file(
            record.record_id,
            notice["metadata_object"].rsplit("/", 1)[-1],
            encode(notice["metadata"]),
            "application/json",
            replaces=record.attachment_id,
        ),
    )
    deps.records.attached(session_id, version, attachment)
    return "attached"


def ensure_record(state: SessionState, deps: CrmDeps) -> Literal["created", "exists"]:
    """Create (or attach to) the session's record once, whatever retries and races say."""
    crm, client = deps.settings.crm, deps.client
    if deps.records.get(state.session_id).record_id:
        return "exists"
    claim = deps.records.claim(state.session_id, lease=deps.settings.claim_lease)
    if claim is None:
        return "exists"
    try:
        ref = None
        if claim.earlier_attempt:
            key = rules.external_id(state.session_id, crm)
            ref = _call(deps, lambda: client.find_by_external_id(key))
        if ref is None:
            ref = _create_or_attach(state, deps)
    except Exception:
        deps.records.release(claim)
        raise
    deps.records.created(claim, ref.id, ref.url)
    deps.schedule.request_rewrite(state.session_id)  # the file must carry the record's id
    log(logger, logging.INFO, "crm record ready", session_id=state.session_id, record=ref.id)
    return "created"


def _create_or_attach(state: SessionState, deps: CrmDeps) -> RecordRef:
    crm, client = deps.settings.crm, deps.client
    user, queue = rules.end_user_id(state), rules.leaf_queue(state)
    if crm.attach_to_open_record_same_leaf_queue and user and queue:
        candidates = _call(deps, lambda: client.find_recent_records(user, queue))
        decision = rules.route(state, crm, candidates, deps.clock())
        if isinstance(decision, rules.AttachTo):
            if decision.reopen:
                _call(deps, lambda: client.reopen(decision.record_id))
            return RecordRef(decision.record_id, decision.url)
    record = rules.build_record(state, crm, deps.settings.zone)
    return _call(deps, lambda: client.create_record(record))


def _call(deps: CrmDeps, fn: Callable[[], T]) -> T:
    """One CRM operation; a short throttle is waited out, a long one raised.

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


def _post_webhook(notice: dict[str, Any], deps: CrmDeps) -> str:
    key = f"{notice['session_id']}:{notice['version']}"
    if (deps.deliveries.get(key) or {}).get("status") == "delivered":
        return "duplicate"
    payload = {
        "session_id": notice["session_id"],
        "version": notice["version"],
        "object": f"gs://{notice['bucket']}/{notice['metadata_object']}",
        "datastream_object": f"gs://{notice['bucket']}/{notice['datastream_object']}",
        "metadata": notice["metadata"],
    }
    try:
        status = deps.webhook.post(payload, idempotency_key=key)
    except WebhookRejected as rejected:
        deps.deliveries.record(key, status="rejected", detail=str(rejected))
        raise CrmRejected("webhook", "post", str(rejected)) from None
    deps.deliveries.record(key, status="delivered", http_status=status, target="webhook")
    return "delivered"


def _when(doc: dict[str, Any]) -> datetime | None:
    raw = doc.get("published_at")
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


def _dead_letter(doc: dict[str, Any], error: str, deps: CrmDeps) -> str:
    kind = doc.get("trigger") or f"v{doc.get('version')}"
    letter_id = f"{doc['session_id']}--{kind}"
    deps.records.dead_letter(letter_id, doc, error)
    log(logger, logging.ERROR, "crm job dead-lettered", session_id=doc["session_id"], error=error)
    return "dead_lettered"
