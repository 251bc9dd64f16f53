"""Firestore: each session's distinct events.

``sessions/{session_id}/events/{hash(event_id)}``: one document per distinct event,
created once (``create`` fails on a redelivery: that is the dedup). A session's
first event and its ends live in the session document instead (``inline``), put
there with the schedule they move (``FirestoreSchedule.keep_event``). The envelope is
kept as JSON text, compressed when it is too large for one field.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.adapters.firestore_common import (
    INLINE_FIELD,
    INLINE_LIMIT,
    NO_METER,
    Meter,
    event_doc_id,
)
from shared.domain.events import Event, parse_envelope


class FirestoreEvents:
    """The ``EventStore`` port on Firestore."""

    def __init__(
        self,
        client: firestore.Client,
        *,
        sessions: str = "sessions",
        retention: timedelta = timedelta(days=30),
        meter: Meter = NO_METER,
    ) -> None:
        self._sessions = client.collection(sessions)
        self._retention = retention
        self._meter = meter

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
        self._meter.count("writes")
        return True

    def load_events(
        self, session_id: str, *, inline: Mapping[str, str] | None = None
    ) -> list[Event]:
        """Every stored event of the session, once: those kept in the session document
        (its first event and its ends, see ``FirestoreSchedule.keep_event``; ``inline``
        when the caller has just read that document, as a claim has) and those in
        ``events/``."""
        ref = self._sessions.document(session_id)
        if inline is None:
            inline = (ref.get().to_dict() or {}).get(INLINE_FIELD) or {}
        found = {key: parse_envelope(json.loads(raw)) for key, raw in inline.items()}
        for snapshot in ref.collection("events").stream():
            found.setdefault(snapshot.id, _event_of(snapshot.to_dict()))
        return list(found.values())


def _event_of(doc: dict[str, Any]) -> Event:
    raw = doc.get("envelope")
    if raw is None:
        raw = zlib.decompress(doc["envelope_z"]).decode("utf-8")
    return parse_envelope(json.loads(raw))
