"""The ports: what the use cases need from the world, as Protocols.

``shared/service/`` is written against these names only. The Firestore, Cloud
Storage and Pub/Sub adapters in ``shared/adapters/`` satisfy them in production;
``tests/fakes.py`` satisfies them in memory, so every use case runs in a unit
test without an emulator. The value types that cross a port (a finalizer's
``Claim``, a ``QuarantineRecord``, a ``StoredObject``) live here too: they belong
to the contract, not to one technology.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.crm.records import CrmRecord, DeadLetter, ParkedJob, ParkedStats, RecordClaim, Route
from shared.crm.rules import ExistingRecord, NewRecord, RecordRef
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
    # The events kept in the session document, as the claim read them (saves a read).
    inline: Mapping[str, str] = field(default_factory=dict)


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

    def load_events(
        self, session_id: str, *, inline: Mapping[str, str] | None = None
    ) -> list[Event]:
        """Every stored event once; ``inline``: the session document's, already read."""
        ...


class ScheduleStore(Protocol):
    """When each session's files are due, and the finalizers' claims on them.

    The semantics are ``shared.domain.schedule``'s; a store only keeps the result
    and makes each change atomic.
    """

    def keep_event(
        self, event: Event, *, delay: timedelta, stuck_timeout: timedelta
    ) -> bool | None:
        """Keep an event that moves the schedule (a session's first, its end) with the
        schedule, in one write: ``True`` kept, ``False`` already kept (a redelivery),
        ``None`` when the event belongs in the ``EventStore`` (then ``note_event``)."""
        ...

    def note_event(self, event: Event, *, delay: timedelta, stuck_timeout: timedelta) -> bool:
        """Move the session's schedule for a stored event; ``True`` if it changed."""
        ...

    def request_rewrite(self, session_id: str) -> bool:
        """Make a written session due again; ``False`` if it was never written."""
        ...

    def due_sessions(self, now: datetime, limit: int) -> list[str]:
        """Ids of sessions owing a write at ``now``, oldest first."""
        ...

    def due_pages(self, now: datetime, *, page_size: int, limit: int) -> Iterator[list[str]]:
        """Every session owing a write at ``now``, oldest first, one page per query."""
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


class TickBook(Protocol):
    """A tick's fan-out: the round of jobs it handed out, and what each job did."""

    def begin_round(self, tick_id: str, lease: timedelta) -> str | None:
        """Take the round for this tick; the id of the tick still holding it, if any."""
        ...

    def record_dispatch(
        self, tick_id: str, now: datetime, *, jobs: int, sessions: int, busy_with: str | None
    ) -> None: ...

    def record_job(self, tick_id: str, job: int, outcomes: Mapping[str, list[str]]) -> None:
        """What one finalize job did (the first report of a job stands)."""
        ...


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

    def publish_json_many(
        self, topic: str, docs: Sequence[tuple[Mapping[str, Any], Mapping[str, str]]]
    ) -> list[str]:
        """Publish them all in batched requests, then wait for every ack."""
        ...


# --- CRM ------------------------------------------------------------------------------------


class FileTarget(Protocol):
    """Somewhere the session's metadata file can be put on an existing record."""

    def attach_file(
        self,
        record_id: str,
        filename: str,
        content: bytes,
        content_type: str,
        replaces: str | None = None,
        marker: str = "",
    ) -> str:
        """Attach the file; return an id to pass as ``replaces`` when the file is rewritten.

        ``replaces`` is the id this method returned for the previous version: a CRM
        that versions files (Salesforce) adds a version to it, the others add the new
        file next to the old one with a note saying it supersedes it. ``marker`` is a
        text that names this version, by which ``find_file`` finds it again.
        """
        ...

    def find_file(self, record_id: str, marker: str) -> str | None:
        """The id of the file attached under ``marker``, if an earlier attempt attached it."""
        ...


class CrmClient(FileTarget, Protocol):
    """One CRM's records, through its own API."""

    name: str
    index_lag_seconds: float  # a takeover with no idempotency tool waits this out (else 0)

    def create_record(self, record: NewRecord, *, follow_up_of: str | None = None) -> RecordRef:
        """Create the record (requester linked, agent mapped), with the CRM's idempotency tool.

        ``follow_up_of``: a record closed for good that this one follows (Zendesk).
        """
        ...

    def find_by_external_id(self, external_id: str) -> RecordRef | None:
        """The record already created under this key, if any: look here before creating again."""
        ...

    def complete(self, record_id: str, record: NewRecord) -> None:
        """Finish what a create does after the record exists (tags), checking what is there."""
        ...

    def get_record(self, record_id: str) -> ExistingRecord | None:
        """The record read by id (not searched): its status, when it closed, its end user."""
        ...

    def reopen(self, record_id: str) -> None:
        """Put a closed record back to the CRM's default open status."""
        ...

    def add_note(self, record_id: str, body: str) -> None:
        """A short internal note on the record."""
        ...

    def notes(self, record_id: str) -> Sequence[str]:
        """The bodies of the record's notes/comments, to check before adding one again."""
        ...

    def close(self) -> None:
        """Release the connection pool."""
        ...


class CrmRecordStore(Protocol):
    """Our own copy: each session's record, the routing index, parked jobs, dead letters."""

    def get(self, session_id: str) -> CrmRecord: ...

    def claim(self, session_id: str, lease: Any) -> RecordClaim | None: ...

    def created(self, claim: RecordClaim, record_id: str, url: str | None) -> str: ...

    def release(self, claim: RecordClaim, *, nothing_created: bool = False) -> None: ...

    def creating(self, session_id: str) -> None: ...

    def moved(self, session_id: str, record_id: str, url: str | None) -> None: ...

    def noted(self, session_id: str) -> None: ...

    def attaching(self, session_id: str, version: int) -> None: ...

    def attached(self, session_id: str, version: int, attachment_id: str) -> None: ...

    def route(self, end_user_id: str, leaf_queue: str) -> Route | None: ...

    def set_route(self, route: Route) -> None: ...

    def drop_route(self, end_user_id: str, leaf_queue: str, record_id: str) -> None: ...

    def park(self, job_id: str, job: dict[str, Any], not_before: datetime, reason: str) -> None: ...

    def due_parked(self, now: datetime, limit: int) -> list[ParkedJob]: ...

    def unpark(self, job: ParkedJob) -> bool: ...

    def parked_stats(self, now: datetime | None = None) -> ParkedStats: ...

    def dead_letter(self, letter_id: str, job: dict[str, Any], error: str) -> None: ...

    def dead_letters(self, *, include_replayed: bool = False) -> list[DeadLetter]: ...


class DeliveryLog(Protocol):
    """What was delivered to the generic webhook, so a redelivery is not sent again."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def record(self, key: str, **fields: Any) -> None: ...


class Webhook(Protocol):
    """The generic CRM webhook; raises ``WebhookRejected`` when refused for good."""

    def post(self, payload: dict[str, Any], *, idempotency_key: str) -> int: ...
