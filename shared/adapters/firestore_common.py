"""What the Firestore adapters share: document ids, time fields, size limits, counting.

The adapters are split by concern (events, schedule and claims, quarantine, tick
records); they agree on these encodings so that one database holds them all.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1 import _helpers

from shared.domain.errors import TransientError

INLINE_LIMIT = 900_000  # bytes kept in one field; larger blobs are compressed or chunked
# Events up to this size may live in the session document (its first event and its ends);
# larger ones go to events/, so the session document stays far below Firestore's 1 MiB.
INLINE_EVENT_LIMIT = 64_000
INLINE_FIELD = "inline"  # sessions/{id}.inline: {event doc id: envelope JSON}


class Meter(Protocol):
    """Where an adapter reports the work it did (benchmarks count writes and transactions).

    Adapters call ``count("writes")``; ``write_if_unchanged`` also counts its calls
    (``transactions``) and its attempts (``transaction_attempts``: more than one is a lost
    race). Production passes nothing and counts nothing.
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


# --- one document, read in one unary call ---------------------------------------------


@dataclass(frozen=True)
class Read:
    """A document as read: its fields (``None``: absent) and its update time."""

    data: dict[str, Any] | None
    update_time: Any = None

    @property
    def exists(self) -> bool:
        return self.data is not None


def read_document(client: firestore.Client, ref: Any) -> Read:
    """One document by the unary ``GetDocument`` call, not ``DocumentReference.get``.

    Why: ``get`` sends ``BatchGetDocuments``, a server-streaming call, and the gRPC
    client starts a thread for each streaming call. Measured on the emulator (500 small
    documents read 4 times): 430-530 reads/s on one thread and 830-860/s on eight with
    ``get``, 660-1,220/s and 1,140-1,450/s with ``GetDocument``. Ingest reads the session
    document once per event and every compare-and-set reads before it writes: this is
    their read. One document read is billed either way.

    https://cloud.google.com/firestore/docs/reference/rpc/google.firestore.v1#getdocumentrequest
    """
    try:
        document = client._firestore_api.get_document(
            request={"name": ref._document_path}, metadata=client._rpc_metadata
        )
    except gexc.NotFound:
        return Read(None)
    fields = _helpers.decode_dict(document.fields, client)
    assert isinstance(fields, dict)  # a document's fields decode to a map
    return Read(fields, document.update_time)


# --- read-modify-write without a lock ----------------------------------------------------

T = TypeVar("T")
Fields = dict[str, Any]
# ``decide`` sees the document as read (``None``: absent) and answers its result and the
# fields to write (``None``: nothing to write). Absent: the fields are the whole new
# document (created); present: field paths updated, the others kept.
Decide = Callable[[Fields | None], tuple[T, Fields | None]]

CAS_ATTEMPTS = 10
# What a write that lost the race answers: the document changed since it was read
# (update-time precondition), was created meanwhile, or vanished (TTL) before the update.
LOST_RACE = (gexc.FailedPrecondition, gexc.Conflict, gexc.AlreadyExists, gexc.NotFound)


class DocumentContended(TransientError):
    """Every attempt lost its race: the message is delivered again, later."""


def write_if_unchanged(
    client: firestore.Client,
    ref: Any,
    decide: Decide[T],
    *,
    attempts: int = CAS_ATTEMPTS,
    meter: Meter = NO_METER,
    pause: Callable[[float], None] = time.sleep,
) -> T:
    """One document's read-modify-write as a compare-and-set, not a transaction.

    Why: a read-write transaction locks the document from its read to its commit, and a
    lock whose holder died (SIGKILL, a cut connection) stays until the transaction
    expires, 60 s idle on the emulator as in the service, blocking every writer of that
    document meanwhile. The emulator also settles two transactions on one document only
    by a 2 s lock timeout: eight ticks racing for the round took 2 s each, and half gave
    up after 5 attempts (measured on the emulator; docs/chaos.md). Here the read takes no
    lock and the write lands only if the document is still as read (an update-time
    precondition; a create when it was absent); the loser reads again and decides again.
    Writers of one document are serialized as a transaction would serialize them, and no
    lock is left behind to orphan.
    """
    meter.count("transactions")
    for attempt in range(attempts):
        meter.count("transaction_attempts")
        snapshot = read_document(client, ref)
        result, fields = decide(snapshot.data)
        if fields is None:
            return result
        try:
            if snapshot.exists:
                precondition = client.write_option(last_update_time=snapshot.update_time)
                ref.update(fields, option=precondition)
            else:
                ref.create(fields)
        except LOST_RACE:
            pause(random.uniform(0, 0.01 * (attempt + 1)))  # spread the losers' next reads
            continue
        meter.count("writes")
        return result
    raise DocumentContended(f"{ref.path}: changed under {attempts} attempts to write it")
