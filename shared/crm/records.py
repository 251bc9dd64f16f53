"""What we keep about CRM records ourselves: the session's record, the routing index, parked jobs.

Plain values the CRM record store (``shared.ports.CrmRecordStore``) hands out. Our own
copy is what every decision reads: a CRM's search index lags by minutes, so "which
record is this session's" and "which record is open for this end user and leaf queue"
are answered here, from our own writes, and refreshed by reading the record by id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

RouteStatus = Literal["open", "solved", "closed"]


@dataclass(frozen=True)
class CrmRecord:
    """The session's record, and how far its file and note went."""

    session_id: str
    record_id: str | None = None
    url: str | None = None
    attachment_id: str | None = None
    attached_version: int = 0
    attempts: int = 0
    attaching_version: int = 0  # a file attach was started for this version (maybe done)
    noted: bool = False  # the "session attached" note is on the record

    @property
    def ticket(self) -> tuple[str | None, str | None]:
        return self.record_id, self.url


@dataclass(frozen=True)
class RecordClaim:
    session_id: str
    token: str
    earlier_attempt: bool  # a worker sent a create before: the record may exist already
    last_attempt_at: datetime | None = None  # when that create was sent
    retry: bool = False  # a worker tried before (its note, say, may be on the record)


@dataclass(frozen=True)
class Route:
    """The record open (or last known) for one end user and leaf queue, by our own writes."""

    end_user_id: str
    leaf_queue: str
    record_id: str
    url: str | None
    status: RouteStatus
    created_at: datetime
    status_at: datetime  # when the record reached ``status`` (closed: when it closed)
    locked: bool = False  # closed for good: only a follow-up can take a session


@dataclass(frozen=True)
class DeadLetter:
    id: str
    job: dict[str, Any]
    error: str
    failed_at: datetime
    replayed_as: str | None = None


@dataclass(frozen=True)
class ParkedJob:
    """A job that must wait longer than a Pub/Sub delivery can: kept until ``not_before``."""

    id: str
    job: dict[str, Any]
    not_before: datetime
    parked_at: datetime  # first parked: the age the metric reports
    reason: str
    times: int = 1
    version: Any = field(default=None, compare=False)  # the store's write time, for a safe delete


@dataclass(frozen=True)
class ParkedStats:
    count: int
    oldest_age_seconds: float  # 0 when none is parked

    def as_dict(self) -> dict[str, Any]:
        return {"parked_jobs": self.count, "oldest_parked_age_s": round(self.oldest_age_seconds)}
