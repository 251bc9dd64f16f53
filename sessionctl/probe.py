"""Read-only look-ups that tell a caller whether its messages took effect.

``sessionctl publish`` and ``tick`` wait on them, and so do the tests; the
functions never need them, which is why they are not part of the adapters.
"""

from __future__ import annotations

from typing import Any

from google.cloud import firestore

from shared.adapters.firestore_common import INLINE_FIELD, event_doc_id, safe_id
from shared.adapters.firestore_schedule import schedule_of
from shared.adapters.firestore_ticks import TICKS_COLLECTION, FirestoreTicks
from shared.domain.schedule import Schedule


class FirestoreProbe:
    def __init__(
        self,
        client: firestore.Client,
        *,
        sessions: str = "sessions",
        quarantine: str = "quarantine",
        ticks: str = TICKS_COLLECTION,
    ) -> None:
        self._db = client
        self._sessions = client.collection(sessions)
        self._quarantine = client.collection(quarantine)
        self._ticks = client.collection(ticks)

    def stored(self, keys: list[tuple[str, str]]) -> int:
        """How many of these (session id, event id) pairs are stored (in ``events/`` or
        in the session document)."""
        refs = [
            self._sessions.document(sid).collection("events").document(event_doc_id(eid))
            for sid, eid in keys
        ]
        found = {snapshot.reference.path for snapshot in self._db.get_all(refs) if snapshot.exists}
        sessions = [self._sessions.document(sid) for sid in dict.fromkeys(s for s, _ in keys)]
        inline = {
            snapshot.id: set((snapshot.to_dict() or {}).get(INLINE_FIELD) or {})
            for snapshot in self._db.get_all(sessions)
            if snapshot.exists
        }
        return sum(
            1
            for (sid, eid), ref in zip(keys, refs, strict=True)
            if ref.path in found or event_doc_id(eid) in inline.get(sid, ())
        )

    def quarantined(self, message_ids: list[str]) -> int:
        """How many of these messages are kept in quarantine."""
        refs = [self._quarantine.document(safe_id(m)) for m in message_ids]
        return sum(1 for snapshot in self._db.get_all(refs) if snapshot.exists)

    def tick_record(self, tick_id: str) -> dict[str, Any] | None:
        """The tick's record once every finalize job it handed out has reported."""
        return FirestoreTicks(self._db, collection=self._ticks.id).tick_record(tick_id)

    def session_doc(self, session_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = self._sessions.document(session_id).get().to_dict()
        return doc

    def schedule(self, session_id: str) -> Schedule | None:
        return schedule_of(self.session_doc(session_id))[0]


def local_probe() -> FirestoreProbe:
    """A probe on the database the settings name (the local stack's, when it is up)."""
    from shared import bootstrap
    from shared.config import get_settings

    settings = get_settings()
    return FirestoreProbe(
        bootstrap.firestore_client(),
        sessions=settings.sessions_collection,
        quarantine=settings.quarantine_collection,
    )
