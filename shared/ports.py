"""The ports: what the use cases need from the world, as Protocols.

``shared/service/`` is written against these names only. The Firestore, Cloud
Storage and Pub/Sub adapters in ``shared/adapters/`` satisfy them in production;
``tests/fakes.py`` satisfies them in memory, so every use case runs in a unit
test without an emulator. The value types that cross a port (a finalizer's
``Claim``, a ``QuarantineRecord``, a ``StoredObject``) live here too: they belong
to the contract, not to one technology.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.domain.events import Event
from shared.domain.schedule import Schedule

Clock = Callable[[], datetime]  # the current UTC time, tz-aware


class GenerationMismatch(Exception):
    """The object is not at the generation the writer read (GCS: HTTP 412)."""


@dataclass(frozen=True)
class PubsubMessage:
    """The part of a Pub/Sub message our functions read (the entry points unwrap it)."""

    data: bytes
    message_id: str
    attributes: dict[str, str] = field(default_factory=dict)
    publish_time: str | None = None


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
    """A rejected message, kept whole so that an operator can replay it."""

    id: str
    raw: bytes
    attributes: dict[str, str]
    reason: str
    detail: str
    received_at: datetime
    replayed_as: str | None = None


@dataclass(frozen=True)
class StoredObject:
    name: str
    data: bytes
    generation: int


# --- sessions: events, schedule and claims -------------------------------------------------


class EventStore(Protocol):
    """Each session's distinct events, stored once."""

    def add_event(self, event: Event) -> bool:
        """Store the event; ``False`` when it was already stored (a redelivery)."""
        ...

    def load_events(self, session_id: str) -> list[Event]: ...


class ScheduleStore(Protocol):
    """When each session's files are due, and the finalizers' claims on them.

    The semantics are ``shared.domain.schedule``'s; a store only keeps the result
    and makes each change atomic.
    """

    def note_event(self, event: Event, *, delay: timedelta, stuck_timeout: timedelta) -> bool:
        """Move the session's schedule for a stored event; ``True`` if it changed."""
        ...

    def request_rewrite(self, session_id: str) -> bool:
        """Make a written session due again; ``False`` if it was never written."""
        ...

    def due_sessions(self, now: datetime, limit: int) -> list[str]:
        """Ids of sessions owing a write at ``now``, oldest first."""
        ...

    def claim(self, session_id: str, now: datetime, lease: timedelta) -> Claim | None:
        """Take the session for writing, unless it is not due or another finalizer holds it."""
        ...

    def holds(self, claim: Claim) -> bool:
        """Whether ``claim`` is still the session's current claim."""
        ...

    def defer(self, claim: Claim, due_at: datetime) -> bool:
        """Give the session back, due at ``due_at`` (the exact stuck-session time)."""
        ...

    def back_off(self, claim: Claim, until: datetime) -> None:
        """Give a session that failed to finalize back, due again at ``until``."""
        ...

    def complete(self, claim: Claim, *, version: int, generation: int, content_hash: str) -> bool:
        """Record the write; ``False`` if the claim was lost meanwhile."""
        ...


class QuarantineStore(Protocol):
    """Rejected messages, kept whole."""

    def keep(self, record: QuarantineRecord) -> None:
        """Keep the record once: a redelivery leaves the first one as it is."""
        ...

    def list_quarantine(self, *, include_replayed: bool = False) -> list[QuarantineRecord]: ...

    def get_quarantine(self, record_id: str) -> QuarantineRecord | None: ...

    def mark_replayed(self, record_id: str, new_message_id: str) -> None: ...


class TickLog(Protocol):
    """What each finalizer tick did, so that whoever sent it can learn when it is done."""

    def record_tick(
        self, tick_id: str, now: datetime, outcomes: Mapping[str, list[str]]
    ) -> None: ...

    def tick_record(self, tick_id: str) -> dict[str, Any] | None: ...


# --- files and messages ---------------------------------------------------------------------


class FileSink(Protocol):
    """One bucket of JSON files, written under generation preconditions."""

    @property
    def bucket_name(self) -> str: ...

    def write(self, name: str, data: bytes, *, if_generation_match: int | None) -> int:
        """Write ``data``; the new generation. ``0``: must not exist; ``None``: unconditional.

        Raises ``GenerationMismatch`` when the object is not at that generation.
        """
        ...

    def read(self, name: str) -> StoredObject | None: ...


class Publisher(Protocol):
    """Publishes to the project's topics and waits for the server's ack; the message id."""

    def publish(self, topic: str, data: bytes, **attributes: str) -> str: ...

    def publish_json(self, topic: str, doc: Mapping[str, Any], **attributes: str) -> str: ...


# --- CRM ------------------------------------------------------------------------------------
# The CRM use case's ports (records, deliveries, the CRM client) are added here as that
# service moves off its concrete adapters.
