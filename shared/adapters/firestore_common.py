"""What the Firestore adapters share: document ids, time fields, size limits, counting.

The adapters are split by concern (events, schedule and claims, quarantine, tick
records); they agree on these encodings so that one database holds them all.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Protocol

INLINE_LIMIT = 900_000  # bytes kept in one field; larger blobs are compressed or chunked
# Events up to this size may live in the session document (its first event and its ends);
# larger ones go to events/, so the session document stays far below Firestore's 1 MiB.
INLINE_EVENT_LIMIT = 64_000
INLINE_FIELD = "inline"  # sessions/{id}.inline: {event doc id: envelope JSON}


class Meter(Protocol):
    """Where an adapter reports the work it did (benchmarks count writes and transactions).

    Adapters call ``count("writes")``, ``count("transactions")`` and
    ``count("transaction_attempts")``; production passes nothing and counts nothing.
    """

    def count(self, name: str, n: int = 1) -> None: ...


class _NoMeter:
    def count(self, name: str, n: int = 1) -> None:
        return None


NO_METER: Meter = _NoMeter()


def event_doc_id(event_id: str) -> str:
    """Event ids may hold any character; a hash makes a valid, evenly spread document id."""
    return hashlib.sha256(event_id.encode("utf-8")).hexdigest()[:40]


def safe_id(message_id: str) -> str:
    """A document id for a message id: kept readable when it is safe, hashed otherwise."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in message_id)[:200]
    return cleaned if cleaned.strip("._") else event_doc_id(message_id)


def ms(at: datetime) -> int:
    """Epoch milliseconds: the schedule's times are stored as integers (cheap range queries)."""
    return int(at.timestamp() * 1000)


def at_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)
