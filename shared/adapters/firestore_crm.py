"""Firestore: each session's CRM record, the routing index, parked jobs and dead letters.

``crm_records/{session_id}`` is the only place that says a record exists. A
worker claims it (a conditional write) before calling the CRM, so two instances never
create two records; a claim whose worker died expires, and the next worker,
seeing that an attempt was made (and when), looks the record up by its
external id before creating again.

``crm_routes/{end user, leaf queue}`` says which record is open for an end user
in a leaf queue: written by our own creates and attaches, refreshed from the
record itself (read by id) before a session is attached to it. No decision
reads a CRM's search index, which lags.

``crm_parked/{job}`` keeps jobs the CRM deferred for longer than a Pub/Sub
delivery can wait (throttling, a daily cap, an index lag to wait out), with
the time before which they must not run; the scheduled tick drains them.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.adapters.firestore_common import write_if_unchanged
from shared.crm.errors import ClaimHeld
from shared.crm.records import (
    CrmRecord,
    DeadLetter,
    ParkedJob,
    ParkedStats,
    RecordClaim,
    Route,
)
from shared.logs import get_logger, log

logger = get_logger("crm_records")

__all__ = ["ClaimHeld", "CrmRecord", "DeadLetter", "FirestoreCrmRecords", "RecordClaim"]


class FirestoreCrmRecords:
    def __init__(
        self,
        client: firestore.Client,
        *,
        collection: str = "crm_records",
        dead_letters: str = "crm_dead_letters",
        routes: str | None = None,
        parked: str | None = None,
        retention: timedelta = timedelta(days=30),
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = client
        self._records = client.collection(collection)
        self._dead = client.collection(dead_letters)
        # Named after the records collection unless given: one setting names them all.
        self._routes = client.collection(routes or f"{collection}_routes")
        self._parked = client.collection(parked or f"{collection}_parked")
        self._retention = retention
        self._clock = wall_clock

    def get(self, session_id: str) -> CrmRecord:
        doc = self._records.document(session_id).get().to_dict() or {}
        return CrmRecord(
            session_id=session_id,
            record_id=doc.get("record_id"),
            url=doc.get("url"),
            attachment_id=doc.get("attachment_id"),
            attached_version=doc.get("attached_version", 0),
            attempts=doc.get("attempts", 0),
            attaching_version=doc.get("attaching_version", 0),
            noted=bool(doc.get("noted")),
        )

    def claim(self, session_id: str, lease: timedelta) -> RecordClaim | None:
        """Hold the record's creation; ``None`` if it exists; ``ClaimHeld`` if busy."""
        ref = self._records.document(session_id)
        token = uuid.uuid4().hex
        # Optimistic, without a transaction: read, then write only if the document is
        # still as read (create-if-absent, or update-if-unchanged). Racing workers never
        # hold locks on it, so none can starve the holder's own writes.
        snapshot = ref.get()
        doc = snapshot.to_dict() or {}
        if doc.get("record_id"):
            return None
        now = self._clock()
        held = doc.get("claim")
        if held and held["until"] > now:
            raise ClaimHeld(session_id)
        attempts = doc.get("attempts", 0)
        update = {
            "session_id": session_id,
            "claim": {"token": token, "until": now + lease},
            "attempts": attempts + 1,
            "attempt_at": now,
            "expire_at": now + self._retention,
        }
        try:
            if snapshot.exists:
                ref.update(
                    update, option=self._db.write_option(last_update_time=snapshot.update_time)
                )
            else:
                ref.create(update)
        except (gexc.FailedPrecondition, gexc.Conflict, gexc.AlreadyExists, gexc.Aborted) as lost:
            raise ClaimHeld(session_id) from lost  # another worker wrote it first
        return RecordClaim(
            session_id,
            token,
            earlier_attempt=doc.get("create_at") is not None,
            last_attempt_at=doc.get("create_at"),
            retry=attempts > 0,
        )

    def created(self, claim: RecordClaim, record_id: str, url: str | None) -> str:
        """Store the record; return the id the session keeps.

        A worker whose lease ran out may learn, here, that another stored a record
        first: the first stays the session's record, and the clash is reported (the
        CRM then holds two records of one session, which an operator merges).
        """
        ref = self._records.document(claim.session_id)

        def store(doc: dict[str, Any] | None) -> tuple[str, dict[str, Any] | None]:
            kept = (doc or {}).get("record_id")
            if kept and kept != record_id:
                return str(kept), None
            update = {"record_id": record_id, "url": url, "created_at": self._clock()}
            if doc is None:
                update["session_id"] = claim.session_id
            elif (doc.get("claim") or {}).get("token") == claim.token:
                update["claim"] = None
            return record_id, update

        kept = write_if_unchanged(self._db, ref, store)
        if kept != record_id:
            log(
                logger,
                logging.ERROR,
                "a second CRM record was created for one session",
                session_id=claim.session_id,
                kept=kept,
                duplicate=record_id,
            )
        return kept

    def release(self, claim: RecordClaim, *, nothing_created: bool = False) -> None:
        """Give the claim back after a failed attempt, so a retry need not wait for the lease.

        ``nothing_created``: the CRM answered (a refusal, a throttle), so no record can
        exist from this attempt, and a retry need not look for one first.
        """
        ref = self._records.document(claim.session_id)
        doc = ref.get().to_dict() or {}
        if (doc.get("claim") or {}).get("token") == claim.token:
            update: dict[str, Any] = {"claim": None}
            if nothing_created:
                update["create_at"] = firestore.DELETE_FIELD
            ref.update(update)

    def creating(self, session_id: str) -> None:
        """A create is about to be sent: a takeover must look for its record first (and when)."""
        self._records.document(session_id).set({"create_at": self._clock()}, merge=True)

    def moved(self, session_id: str, record_id: str, url: str | None) -> None:
        """The session's record was closed for good: its follow-up is the session's record now."""
        self._records.document(session_id).set(
            {"record_id": record_id, "url": url, "moved_at": self._clock()}, merge=True
        )

    def noted(self, session_id: str) -> None:
        self._records.document(session_id).set({"noted": True}, merge=True)

    def attaching(self, session_id: str, version: int) -> None:
        """An attach of this version starts: a retry must first look whether it landed."""
        self._records.document(session_id).set({"attaching_version": version}, merge=True)

    def attached(self, session_id: str, version: int, attachment_id: str) -> None:
        ref = self._records.document(session_id)

        def keep(doc: dict[str, Any] | None) -> tuple[None, dict[str, Any] | None]:
            if (doc or {}).get("attached_version", 0) >= version:
                return None, None  # a newer version is on the record already: keep its id
            return None, {"attachment_id": attachment_id, "attached_version": version}

        write_if_unchanged(self._db, ref, keep)

    # --- routing index ------------------------------------------------------------------

    @staticmethod
    def _route_id(end_user_id: str, leaf_queue: str) -> str:
        return hashlib.sha256(f"{end_user_id}\x00{leaf_queue}".encode()).hexdigest()[:40]

    def route(self, end_user_id: str, leaf_queue: str) -> Route | None:
        doc = self._routes.document(self._route_id(end_user_id, leaf_queue)).get().to_dict()
        if not doc:
            return None
        return Route(
            end_user_id=doc["end_user_id"],
            leaf_queue=doc["leaf_queue"],
            record_id=doc["record_id"],
            url=doc.get("url"),
            status=doc["status"],
            created_at=doc["created_at"],
            status_at=doc["status_at"],
            locked=bool(doc.get("locked")),
        )

    def set_route(self, route: Route) -> None:
        now = self._clock()
        self._routes.document(self._route_id(route.end_user_id, route.leaf_queue)).set(
            {
                "end_user_id": route.end_user_id,
                "leaf_queue": route.leaf_queue,
                "record_id": route.record_id,
                "url": route.url,
                "status": route.status,
                "created_at": route.created_at,
                "status_at": route.status_at,
                "locked": route.locked,
                "refreshed_at": now,
                "expire_at": now + self._retention,
            }
        )

    def drop_route(self, end_user_id: str, leaf_queue: str, record_id: str) -> None:
        ref = self._routes.document(self._route_id(end_user_id, leaf_queue))
        doc = ref.get().to_dict() or {}
        if doc.get("record_id") == record_id:
            ref.delete()

    # --- parked jobs --------------------------------------------------------------------

    def park(self, job_id: str, job: dict[str, Any], not_before: datetime, reason: str) -> None:
        """Keep the job until ``not_before``; parking it again keeps its first time."""
        ref = self._parked.document(job_id)
        now = self._clock()

        def keep(doc: dict[str, Any] | None) -> tuple[None, dict[str, Any]]:
            return None, {
                "job": job,
                "not_before": not_before,
                "parked_at": (doc or {}).get("parked_at") or now,
                "reason": reason,
                "times": (doc or {}).get("times", 0) + 1,
                "expire_at": now + self._retention,
            }

        write_if_unchanged(self._db, ref, keep)

    def due_parked(self, now: datetime, limit: int) -> list[ParkedJob]:
        query = (
            self._parked.where(filter=firestore.FieldFilter("not_before", "<=", now))
            .order_by("not_before")
            .limit(limit)
        )
        return [self._parked_job(s) for s in query.stream()]

    def parked(self) -> list[ParkedJob]:
        return [self._parked_job(s) for s in self._parked.order_by("not_before").stream()]

    def unpark(self, job: ParkedJob) -> bool:
        """Forget a released job, unless it was parked again since it was read."""
        try:
            self._parked.document(job.id).delete(
                option=self._db.write_option(last_update_time=job.version)
            )
        except (gexc.FailedPrecondition, gexc.NotFound):
            return False
        return True

    def parked_stats(self, now: datetime | None = None) -> ParkedStats:
        """How many jobs are parked and the age of the oldest (the throttling metric)."""
        now = now or self._clock()
        oldest = list(self._parked.order_by("parked_at").limit(1).stream())
        count_query: Any = self._parked.count().get()  # type: ignore[no-untyped-call]
        count = int(count_query[0][0].value) if count_query else 0
        age = (now - _doc(oldest[0])["parked_at"]).total_seconds() if oldest else 0.0
        return ParkedStats(count=count, oldest_age_seconds=max(0.0, age))

    @staticmethod
    def _parked_job(snapshot: Any) -> ParkedJob:
        doc = _doc(snapshot)
        return ParkedJob(
            id=snapshot.id,
            job=doc["job"],
            not_before=doc["not_before"],
            parked_at=doc["parked_at"],
            reason=doc.get("reason", ""),
            times=doc.get("times", 1),
            version=snapshot.update_time,
        )

    # --- dead letters -------------------------------------------------------------------

    def dead_letter(self, letter_id: str, job: dict[str, Any], error: str) -> None:
        now = self._clock()
        self._dead.document(letter_id).set(
            {
                "job": job,
                "error": error,
                "failed_at": now,
                "replayed_as": None,
                "expire_at": now + self._retention,
            }
        )

    def dead_letters(self, *, include_replayed: bool = False) -> list[DeadLetter]:
        letters = [
            DeadLetter(
                id=s.id,
                job=_doc(s)["job"],
                error=_doc(s)["error"],
                failed_at=_doc(s)["failed_at"],
                replayed_as=_doc(s).get("replayed_as"),
            )
            for s in self._dead.order_by("failed_at").stream()
        ]
        return [d for d in letters if include_replayed or not d.replayed_as]

    def get_dead_letter(self, letter_id: str) -> DeadLetter | None:
        snapshot = self._dead.document(letter_id).get()
        if not snapshot.exists:
            return None
        doc = _doc(snapshot)
        return DeadLetter(
            snapshot.id, doc["job"], doc["error"], doc["failed_at"], doc.get("replayed_as")
        )

    def mark_replayed(self, letter_id: str, message_id: str) -> None:
        self._dead.document(letter_id).update({"replayed_as": message_id})


def _doc(snapshot: Any) -> dict[str, Any]:
    """The fields of a snapshot known to exist (read from a query or checked ``exists``)."""
    doc: dict[str, Any] = snapshot.to_dict() or {}
    return doc
