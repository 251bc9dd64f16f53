"""Firestore: the sessions' events, their finalization schedule, and quarantined messages.

Layout (why: keep writes per event near one, and never make one document hot):
- ``sessions/{session_id}/events/{hash(event_id)}``: one document per distinct
  event, created once (``create`` fails on a redelivery: that is the dedup).
- ``sessions/{session_id}``: the session's ``Schedule`` plus the finalizer's
  claim and bookkeeping (``first_at`` and ``due_at`` in epoch milliseconds). Written only when the schedule changes (first event,
  end, earlier event, late event) and by the finalizer, so a burst of
  hundreds of events into one session touches it a handful of times.
- ``quarantine/{message_id}``: rejected messages, kept whole.
"""

from __future__ import annotations

import hashlib
import json
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.domain.events import Event, parse_envelope
from shared.domain.schedule import Schedule, after_event, after_rewrite_request, after_write

# Every composite query this module runs, for the Terraform index check:
# (collection id, ((field, direction), ...)).
COMPOSITE_INDEXES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("sessions", (("pending", "ASCENDING"), ("due_at", "ASCENDING"))),
)

TICKS_COLLECTION = "finalize_ticks"  # what each finalizer tick did (kept a week)
INLINE_LIMIT = 900_000  # bytes kept in one field; larger blobs are compressed or chunked
TICK_KEPT = timedelta(days=7)
SCHEDULE_FIELDS = ("first_at", "due_at", "pending", "end_at", "version", "late_seq")


def event_doc_id(event_id: str) -> str:
    """Event ids may hold any character; a hash makes a valid, evenly spread document id."""
    return hashlib.sha256(event_id.encode("utf-8")).hexdigest()[:40]


@dataclass(frozen=True)
class Claim:
    """A finalizer's hold on one session while it writes the files."""

    session_id: str
    token: str
    schedule: Schedule
    content_hash: str | None
    metadata_generation: int


@dataclass(frozen=True)
class QuarantineRecord:
    id: str
    raw: bytes
    attributes: dict[str, str]
    reason: str
    detail: str
    received_at: datetime
    replayed_as: str | None = None


class FirestoreStore:
    """Sessions, events and quarantine in one Firestore database."""

    def __init__(
        self,
        client: firestore.Client,
        *,
        sessions: str = "sessions",
        quarantine: str = "quarantine",
        retention: timedelta = timedelta(days=30),
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = client
        self._sessions = client.collection(sessions)
        self._quarantine = client.collection(quarantine)
        self._retention = retention
        self._wall_clock = wall_clock
        self.writes = 0  # document writes made through this store (benchmarks read it)
        self.transaction_attempts = 0  # bodies run; more than transactions = aborts retried
        self.transactions = 0

    # --- ingest -------------------------------------------------------------------------

    def add_event(self, event: Event) -> bool:
        """Store the event once; ``False`` when it was already stored (a redelivery)."""
        ref = self._sessions.document(event.session_id).collection("events")
        envelope = json.dumps(event.envelope(), ensure_ascii=False, separators=(",", ":"))
        doc: dict[str, Any] = {
            "event_id": event.event_id,
            "type": event.type,
            "occurred_at": event.occurred_at,
            "expire_at": event.occurred_at + self._retention,
        }
        if len(envelope) < INLINE_LIMIT:
            doc["envelope"] = envelope
        else:
            doc["envelope_z"] = zlib.compress(envelope.encode("utf-8"))
        try:
            ref.document(event_doc_id(event.event_id)).create(doc)
        except gexc.AlreadyExists:
            return False
        self.writes += 1
        return True

    def note_event(self, event: Event, *, delay: timedelta, stuck_timeout: timedelta) -> bool:
        """Move the session's schedule for a stored event; ``True`` if the session doc changed.

        Must run after ``add_event``: a finalizer that claimed the session before
        this read may have missed the event, and the claim is what tells us so.
        """
        ref = self._sessions.document(event.session_id)
        change = dict(occurred_at=event.occurred_at, is_end=event.type == "session.ended")
        change.update(delay=delay, stuck_timeout=stuck_timeout)
        snapshot = ref.get()
        if not snapshot.exists:
            fresh = after_event(None, writing=False, **change)
            try:
                ref.create({"session_id": event.session_id, **self._schedule_doc(fresh)})
                self.writes += 1
                return True
            except gexc.AlreadyExists:
                snapshot = ref.get()
        current, writing = _schedule_of(snapshot.to_dict())
        updated = after_event(current, writing=writing, **change)
        if updated is None:
            return False
        return self._note_in_transaction(ref, change)

    def _note_in_transaction(self, ref, change: dict[str, Any]) -> bool:
        @firestore.transactional
        def run(transaction) -> bool:
            self.transaction_attempts += 1
            current, writing = _schedule_of(ref.get(transaction=transaction).to_dict())
            updated = after_event(current, writing=writing, **change)
            if updated is None:
                return False
            transaction.update(ref, self._schedule_doc(updated))
            return True

        self.transactions += 1
        written = run(self._db.transaction(max_attempts=10))
        self.writes += int(written)
        return written

    def _schedule_doc(self, schedule: Schedule) -> dict[str, Any]:
        doc = {name: getattr(schedule, name) for name in SCHEDULE_FIELDS}
        doc["first_at"], doc["due_at"] = _ms(schedule.first_at), _ms(schedule.due_at)
        doc["expire_at"] = schedule.due_at + self._retention
        return doc

    # --- finalize -----------------------------------------------------------------------

    def due_sessions(self, now: datetime, limit: int) -> list[str]:
        """Ids of sessions owing a write at ``now``, oldest first (index: pending, due_at)."""
        query = (
            self._sessions.where(filter=firestore.FieldFilter("pending", "==", True))
            .where(filter=firestore.FieldFilter("due_at", "<=", _ms(now)))
            .order_by("due_at")
            .limit(limit)
        )
        return [snapshot.id for snapshot in query.stream()]

    def claim(self, session_id: str, now: datetime, lease: timedelta) -> Claim | None:
        """Take the session for writing, unless it is not due or another finalizer holds it."""
        ref = self._sessions.document(session_id)
        token = uuid.uuid4().hex

        @firestore.transactional
        def run(transaction) -> Claim | None:
            doc = ref.get(transaction=transaction).to_dict()
            if doc is None:
                return None
            schedule, _ = _schedule_of(doc)
            held = doc.get("claim")
            wall = self._wall_clock()
            if not (schedule.pending and schedule.due_at <= now):
                return None
            if held and held["until"] > wall:
                return None
            transaction.update(ref, {"claim": {"token": token, "until": wall + lease}})
            return Claim(
                session_id=session_id,
                token=token,
                schedule=schedule,
                content_hash=doc.get("content_hash"),
                metadata_generation=doc.get("metadata_generation", 0),
            )

        claim = run(self._db.transaction())
        self.writes += int(claim is not None)
        return claim

    def defer(self, claim: Claim, due_at: datetime) -> bool:
        """Give the session back, due at ``due_at`` (the exact stuck-session time)."""
        ref = self._sessions.document(claim.session_id)

        @firestore.transactional
        def run(transaction) -> bool:
            doc = ref.get(transaction=transaction).to_dict() or {}
            if (doc.get("claim") or {}).get("token") != claim.token:
                return False
            current, _ = _schedule_of(doc)
            if not current.awaits_stuck_timeout:
                transaction.update(ref, {"claim": None})  # an end came meanwhile: due as is
            else:
                transaction.update(ref, {"claim": None, "due_at": _ms(due_at)})
            return True

        deferred = run(self._db.transaction())
        self.writes += int(deferred)
        return deferred

    def back_off(self, claim: Claim, until: datetime) -> None:
        """Give a session that failed to finalize back, due again at ``until``.

        So that one session that cannot be written does not hold the head of the due
        queue and starve the others.
        """
        ref = self._sessions.document(claim.session_id)
        doc = ref.get().to_dict() or {}
        if (doc.get("claim") or {}).get("token") == claim.token:
            ref.update({"claim": None, "due_at": _ms(until)})
            self.writes += 1

    def record_tick(self, tick_id: str, now: datetime, outcomes: dict[str, list[str]]) -> None:
        """Keep what a tick did, so that whoever sent it can learn when it is done."""
        wall = self._wall_clock()
        doc: dict[str, Any] = {"now": now, "finished_at": wall, "expire_at": wall + TICK_KEPT}
        for outcome, session_ids in outcomes.items():
            doc[outcome] = len(session_ids)
            doc[f"{outcome}_ids"] = session_ids[:100]
        self._db.collection(TICKS_COLLECTION).document(_safe_id(tick_id)).set(doc)
        self.writes += 1

    def tick_record(self, tick_id: str) -> dict[str, Any] | None:
        return self._db.collection(TICKS_COLLECTION).document(_safe_id(tick_id)).get().to_dict()

    def stored(self, keys: list[tuple[str, str]]) -> int:
        """How many of these (session id, event id) pairs are stored."""
        refs = [
            self._sessions.document(sid).collection("events").document(event_doc_id(eid))
            for sid, eid in keys
        ]
        return sum(1 for snapshot in self._db.get_all(refs) if snapshot.exists)

    def quarantined(self, message_ids: list[str]) -> int:
        refs = [self._quarantine.document(_safe_id(m)) for m in message_ids]
        return sum(1 for snapshot in self._db.get_all(refs) if snapshot.exists)

    def holds(self, claim: Claim) -> bool:
        """Whether ``claim`` is still the session's current claim."""
        doc = self._sessions.document(claim.session_id).get().to_dict() or {}
        return (doc.get("claim") or {}).get("token") == claim.token

    def load_events(self, session_id: str) -> list[Event]:
        events = self._sessions.document(session_id).collection("events").stream()
        return [_event_of(snapshot.to_dict()) for snapshot in events]

    def complete(self, claim: Claim, *, version: int, generation: int, content_hash: str) -> bool:
        """Record the write; ``False`` if the claim was lost (another finalizer took over)."""
        ref = self._sessions.document(claim.session_id)

        @firestore.transactional
        def run(transaction) -> bool:
            doc = ref.get(transaction=transaction).to_dict() or {}
            if (doc.get("claim") or {}).get("token") != claim.token:
                return False
            schedule, _ = _schedule_of(doc)
            done = after_write(schedule, version=version, late_seq_seen=claim.schedule.late_seq)
            transaction.update(
                ref,
                {
                    **self._schedule_doc(done),
                    "claim": None,
                    "content_hash": content_hash,
                    "metadata_generation": generation,
                    "written_at": self._wall_clock(),
                },
            )
            return True

        completed = run(self._db.transaction())
        self.writes += int(completed)
        return completed

    def request_rewrite(self, session_id: str) -> bool:
        """Make a written (or being written) session due again; ``False`` if never written."""
        ref = self._sessions.document(session_id)

        @firestore.transactional
        def run(transaction) -> bool:
            current, writing = _schedule_of(ref.get(transaction=transaction).to_dict())
            if current is None or not writing:
                return False  # the first write has yet to start: it will read what we know
            transaction.update(ref, self._schedule_doc(after_rewrite_request(current)))
            return True

        requested = run(self._db.transaction())
        self.writes += int(requested)
        return requested

    def schedule(self, session_id: str) -> Schedule | None:
        return _schedule_of(self.session_doc(session_id))[0]

    def session_doc(self, session_id: str) -> dict[str, Any] | None:
        return self._sessions.document(session_id).get().to_dict()

    # --- quarantine ---------------------------------------------------------------------

    def quarantine(self, record: QuarantineRecord) -> None:
        """Keep a rejected message whole, once: a redelivery leaves the first record as it is
        (an operator may have replayed it meanwhile)."""
        ref = self._quarantine.document(_safe_id(record.id))
        if ref.get().exists:
            return
        doc: dict[str, Any] = {
            "message_id": record.id,
            "attributes": record.attributes,
            "reason": record.reason,
            "detail": record.detail,
            "received_at": record.received_at,
            "size": len(record.raw),
            "replayed_as": record.replayed_as,
            "expire_at": record.received_at + self._retention,
        }
        chunks = [record.raw[i : i + INLINE_LIMIT] for i in range(0, len(record.raw), INLINE_LIMIT)]
        if len(chunks) <= 1:
            doc["raw"] = record.raw
        else:
            doc["chunks"] = len(chunks)
            batch = self._db.batch()
            for index, chunk in enumerate(chunks):
                batch.set(
                    ref.collection("chunks").document(f"{index:04d}"),
                    {"raw": chunk, "expire_at": doc["expire_at"]},
                )
            batch.commit()
            self.writes += len(chunks)
        try:
            ref.create(doc)  # the record last: its presence means the chunks are all there
        except gexc.AlreadyExists:
            return
        self.writes += 1

    def list_quarantine(self, *, include_replayed: bool = False) -> list[QuarantineRecord]:
        records = [self._record_of(s) for s in self._quarantine.order_by("received_at").stream()]
        return [r for r in records if include_replayed or not r.replayed_as]

    def get_quarantine(self, record_id: str) -> QuarantineRecord | None:
        snapshot = self._quarantine.document(_safe_id(record_id)).get()
        return self._record_of(snapshot) if snapshot.exists else None

    def mark_replayed(self, record_id: str, new_message_id: str) -> None:
        self._quarantine.document(_safe_id(record_id)).update({"replayed_as": new_message_id})
        self.writes += 1

    def _record_of(self, snapshot) -> QuarantineRecord:
        doc = snapshot.to_dict()
        raw = doc.get("raw")
        if raw is None:
            parts = snapshot.reference.collection("chunks").order_by("__name__").stream()
            raw = b"".join(part.to_dict()["raw"] for part in parts)
        return QuarantineRecord(
            id=doc["message_id"],
            raw=bytes(raw),
            attributes=dict(doc.get("attributes") or {}),
            reason=doc["reason"],
            detail=doc.get("detail", ""),
            received_at=doc["received_at"],
            replayed_as=doc.get("replayed_as"),
        )


def _schedule_of(doc: dict[str, Any] | None) -> tuple[Schedule | None, bool]:
    """The stored schedule, and whether a finalizer has claimed or written the session."""
    if doc is None:
        return None, False
    fields = {name: doc.get(name) for name in SCHEDULE_FIELDS}
    fields["first_at"], fields["due_at"] = _at(fields["first_at"]), _at(fields["due_at"])
    schedule = Schedule(**fields)
    return schedule, schedule.version > 0 or bool(doc.get("claim"))


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _event_of(doc: dict[str, Any]) -> Event:
    raw = doc.get("envelope")
    if raw is None:
        raw = zlib.decompress(doc["envelope_z"]).decode("utf-8")
    return parse_envelope(json.loads(raw))


def _safe_id(message_id: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in message_id)[:200]
    return cleaned if cleaned.strip("._") else event_doc_id(message_id)
