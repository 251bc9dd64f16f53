"""Firestore record of CRM deliveries: what was sent, so a redelivery is not sent again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from google.cloud import firestore


class FirestoreDeliveries:
    def __init__(
        self,
        client: firestore.Client,
        *,
        collection: str = "crm_deliveries",
        retention: timedelta = timedelta(days=30),
    ) -> None:
        self._collection = client.collection(collection)
        self._retention = retention

    @staticmethod
    def doc_id(key: str) -> str:
        return key.replace("/", "_").replace(":", "--")

    def get(self, key: str) -> dict[str, Any] | None:
        return self._collection.document(self.doc_id(key)).get().to_dict()

    def record(self, key: str, **fields: Any) -> None:
        now = datetime.now(UTC)
        doc = {"key": key, "recorded_at": now, "expire_at": now + self._retention, **fields}
        self._collection.document(self.doc_id(key)).set(doc)
