"""Firestore: what each finalizer tick did (``finalize_ticks/{tick message id}``, kept a week).

Whoever sent a tick (the CLI, a test, an operator) reads its record to learn
that the tick is done and what it wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from google.cloud import firestore

from shared.adapters.firestore_common import NO_METER, Meter, safe_id

TICKS_COLLECTION = "finalize_ticks"
TICK_KEPT = timedelta(days=7)
IDS_KEPT = 100  # session ids listed per outcome; the counts are always whole


class FirestoreTicks:
    """The ``TickLog`` port on Firestore."""

    def __init__(
        self,
        client: firestore.Client,
        *,
        collection: str = TICKS_COLLECTION,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        meter: Meter = NO_METER,
    ) -> None:
        self._ticks = client.collection(collection)
        self._wall_clock = wall_clock
        self._meter = meter

    def record_tick(self, tick_id: str, now: datetime, outcomes: Mapping[str, list[str]]) -> None:
        """Keep what a tick did, so that whoever sent it can learn when it is done."""
        wall = self._wall_clock()
        doc: dict[str, Any] = {"now": now, "finished_at": wall, "expire_at": wall + TICK_KEPT}
        for outcome, session_ids in outcomes.items():
            doc[outcome] = len(session_ids)
            doc[f"{outcome}_ids"] = session_ids[:IDS_KEPT]
        self._ticks.document(safe_id(tick_id)).set(doc)
        self._meter.count("writes")

    def tick_record(self, tick_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = self._ticks.document(safe_id(tick_id)).get().to_dict()
        return doc
