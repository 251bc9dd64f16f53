"""Firestore: rejected messages, kept whole (``quarantine/{message_id}``).

A message larger than one field is split into ``chunks/{nnnn}`` documents; the
record itself is created last, so its presence means the chunks are all there.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.adapters.firestore_common import INLINE_LIMIT, NO_METER, Meter, safe_id
from shared.ports import QuarantineRecord


class FirestoreQuarantine:
    """The ``QuarantineStore`` port on Firestore."""

    def __init__(
        self,
        client: firestore.Client,
        *,
        collection: str = "quarantine",
        retention: timedelta = timedelta(days=30),
        meter: Meter = NO_METER,
    ) -> None:
        self._db = client
        self._quarantine = client.collection(collection)
        self._retention = retention
        self._meter = meter

    def keep(self, record: QuarantineRecord) -> None:
        """Keep a rejected message whole, once: a redelivery leaves the first record as it is
        (an operator may have replayed it meanwhile)."""
        ref = self._quarantine.document(safe_id(record.id))
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
            self._meter.count("writes", len(chunks))
        try:
            ref.create(doc)  # the record last: its presence means the chunks are all there
        except gexc.AlreadyExists:
            return
        self._meter.count("writes")

    def list_quarantine(self, *, include_replayed: bool = False) -> list[QuarantineRecord]:
        records = [_record_of(s) for s in self._quarantine.order_by("received_at").stream()]
        return [r for r in records if include_replayed or not r.replayed_as]

    def get_quarantine(self, record_id: str) -> QuarantineRecord | None:
        snapshot = self._quarantine.document(safe_id(record_id)).get()
        return _record_of(snapshot) if snapshot.exists else None

    def mark_replayed(self, record_id: str, new_message_id: str) -> None:
        self._quarantine.document(safe_id(record_id)).update({"replayed_as": new_message_id})
        self._meter.count("writes")


def _record_of(snapshot: Any) -> QuarantineRecord:
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
