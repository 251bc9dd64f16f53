"""Firestore: each session's CRM record, the claim that guards its creation, dead letters.

``crm_records/{session_id}`` is the only place that says a record exists. A
worker claims it (transaction) before calling the CRM, so two instances never
create two records; a claim whose worker died expires, and the next worker,
seeing that an attempt was made, looks the record up by its external id
before creating again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.domain.errors import TransientError
from shared.logs import get_logger, log

logger = get_logger("crm_records")


class ClaimHeld(TransientError):
    """Another worker is creating this session's record right now."""


@dataclass(frozen=True)
class CrmRecord:
    session_id: str
    record_id: str | None = None
    url: str | None = None
    attachment_id: str | None = None
    attached_version: int = 0
    attempts: int = 0

    @property
    def ticket(self) -> tuple[str | None, str | None]:
        return self.record_id, self.url


@dataclass(frozen=True)
class RecordClaim:
    session_id: str
    token: str
    earlier_attempt: bool  # a worker tried before: the record may exist already


@dataclass(frozen=True)
class DeadLetter:
    id: str
    job: dict[str, Any]
    error: str
    failed_at: datetime
    replayed_as: str | None = None


class FirestoreCrmRecords:
    def __init__(
        self,
        client: firestore.Client,
        *,
        collection: str = "crm_records",
        dead_letters: str = "crm_dead_letters",
        retention: timedelta = timedelta(days=30),
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = client
        self._records = client.collection(collection)
        self._dead = client.collection(dead_letters)
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
        )

    def claim(self, session_id: str, lease: timedelta) -> RecordClaim | None:
        """Hold the record's creation; ``None`` if it exists; ``ClaimHeld`` if busy."""
        ref = self._records.document(session_id)
        token = uuid.uuid4().hex

        @firestore.transactional
        def run(transaction) -> RecordClaim | None:
            doc = ref.get(transaction=transaction).to_dict() or {}
            if doc.get("record_id"):
                return None
            now = self._clock()
            held = doc.get("claim")
            if held and held["until"] > now:
                raise ClaimHeld(session_id)
            attempts = doc.get("attempts", 0)
            transaction.set(
                ref,
                {
                    "session_id": session_id,
                    "claim": {"token": token, "until": now + lease},
                    "attempts": attempts + 1,
                    "expire_at": now + self._retention,
                },
                merge=True,
            )
            return RecordClaim(session_id, token, earlier_attempt=attempts > 0)

        try:
            return run(self._db.transaction())
        except gexc.Aborted as lost:
            raise ClaimHeld(session_id) from lost
        except ValueError as lost:  # every attempt aborted: other workers are claiming it too
            if not isinstance(lost.__cause__, gexc.Aborted):
                raise
            raise ClaimHeld(session_id) from lost

    def created(self, claim: RecordClaim, record_id: str, url: str | None) -> str:
        """Store the record; return the id the session keeps.

        A worker whose lease ran out may learn, here, that another stored a record
        first: the first stays the session's record, and the clash is reported (the
        CRM then holds two records of one session, which an operator merges).
        """
        ref = self._records.document(claim.session_id)

        @firestore.transactional
        def run(transaction) -> str:
            doc = ref.get(transaction=transaction).to_dict() or {}
            kept = doc.get("record_id")
            if kept and kept != record_id:
                return kept
            update = {"record_id": record_id, "url": url, "created_at": self._clock()}
            if (doc.get("claim") or {}).get("token") == claim.token:
                update["claim"] = None
            transaction.set(ref, update, merge=True)
            return record_id

        kept = run(self._db.transaction())
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

    def release(self, claim: RecordClaim) -> None:
        """Give the claim back after a failed attempt, so a retry need not wait for the lease."""
        ref = self._records.document(claim.session_id)
        doc = ref.get().to_dict() or {}
        if (doc.get("claim") or {}).get("token") == claim.token:
            ref.update({"claim": None})

    def attached(self, session_id: str, version: int, attachment_id: str) -> None:
        self._records.document(session_id).set(
            {"attachment_id": attachment_id, "attached_version": version}, merge=True
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
                job=s.to_dict()["job"],
                error=s.to_dict()["error"],
                failed_at=s.to_dict()["failed_at"],
                replayed_as=s.to_dict().get("replayed_as"),
            )
            for s in self._dead.order_by("failed_at").stream()
        ]
        return [d for d in letters if include_replayed or not d.replayed_as]

    def get_dead_letter(self, letter_id: str) -> DeadLetter | None:
        snapshot = self._dead.document(letter_id).get()
        if not snapshot.exists:
            return None
        doc = snapshot.to_dict()
        return DeadLetter(
            snapshot.id, doc["job"], doc["error"], doc["failed_at"], doc.get("replayed_as")
        )

    def mark_replayed(self, letter_id: str, message_id: str) -> None:
        self._dead.document(letter_id).update({"replayed_as": message_id})
