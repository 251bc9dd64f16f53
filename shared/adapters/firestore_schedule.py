"""Firestore: each session's finalization schedule and the finalizers' claims.

``sessions/{session_id}`` holds the session's ``Schedule`` plus the finalizer's
claim and bookkeeping, and the events that move the schedule (``keep_event``)
(``first_at`` and ``due_at`` in epoch milliseconds). It is
written only when the schedule changes (first event, end, earlier event, late
event) and by the finalizer, so a burst of hundreds of events into one session
touches it a handful of times (why: keep writes per event near one, and never make
one document hot). The rules are ``shared.domain.schedule``'s; this module keeps
their result and makes each change a compare-and-set of the document
(``write_if_unchanged``: no transaction lock for a dead instance to leave behind).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.adapters.firestore_common import (
    INLINE_EVENT_LIMIT,
    INLINE_FIELD,
    NO_METER,
    Meter,
    at_ms,
    event_doc_id,
    ms,
    read_document,
    write_if_unchanged,
)
from shared.domain.events import Event
from shared.domain.schedule import Schedule, after_event, after_rewrite_request, after_write
from shared.ports import Claim

# Every composite query this module runs, for the Terraform index check:
# (collection id, ((field, direction), ...)).
COMPOSITE_INDEXES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("sessions", (("pending", "ASCENDING"), ("due_at", "ASCENDING"))),
)

SCHEDULE_FIELDS = ("first_at", "due_at", "pending", "end_at", "version", "late_seq")
KNOWN_SESSIONS_KEPT = 100_000
_KNOWN_SESSIONS: dict[str, dict[str, set[str]]] = {}


@dataclass(frozen=True)
class Backlog:
    """Sessions owing a write at some ``now``: free ones and those a live claim holds.

    Why: a tick skips a session another finalizer holds (or one a killed finalizer held
    until its lease runs out), so "0 written" does not mean done; this says what is left
    and until when, so nobody has to guess how long to keep ticking.
    """

    due: int  # pending and due by ``now``, held or not
    held: tuple[tuple[str, datetime], ...]  # (session id, claim until), soonest first

    @property
    def free(self) -> int:
        return self.due - len(self.held)

    @property
    def held_until(self) -> datetime | None:
        """When the last live claim runs out (a killed finalizer's may take a lease)."""
        return max((until for _, until in self.held), default=None)


class FirestoreSchedule:
    """The ``ScheduleStore`` port on Firestore."""

    def __init__(
        self,
        client: firestore.Client,
        *,
        sessions: str = "sessions",
        retention: timedelta = timedelta(days=30),
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        meter: Meter = NO_METER,
    ) -> None:
        self._db = client
        self._sessions = client.collection(sessions)
        self._retention = retention
        self._wall_clock = wall_clock
        self._meter = meter
        # Sessions this instance has seen exist (their events skip the create-first try),
        # with the keys of the events it kept in their documents; shared by every adapter
        # of the process on the same collection (the functions build one per request).
        self._known = _KNOWN_SESSIONS.setdefault(
            f"{client.project}/{'/'.join(self._sessions._path)}", {}
        )

    # --- ingest -------------------------------------------------------------------------

    def keep_event(
        self, event: Event, *, delay: timedelta, stuck_timeout: timedelta
    ) -> bool | None:
        """Keep the session's first event, or a ``session.ended``, with the schedule it moves.

        Why: these are the events that change the schedule; stored apart they cost two
        writes (the event, then the session document). Kept in the session document's
        ``inline`` map they cost one, so a session's events cost one write each:

        - the first event stored creates the session document, schedule and event at
          once (tried only for sessions this instance has not seen exist: existence ends
          only by TTL, and ``note_event`` re-creates the document then);
        - a ``session.ended`` goes in with the write that moves the schedule, a
          compare-and-set (``write_if_unchanged``): a finalizer's claim and this write are
          serialized, so an end that comes after a claim is late, exactly as one stored
          in ``events/``.

        ``None``: any other event, or one too large for the session document; it is
        stored in ``events/`` and then ``note_event`` reads the schedule.
        """
        envelope = json.dumps(event.envelope(), ensure_ascii=False, separators=(",", ":"))
        if len(envelope) > INLINE_EVENT_LIMIT:
            return None
        key = event_doc_id(event.event_id)
        change: dict[str, Any] = dict(
            occurred_at=event.occurred_at, is_end=event.type == "session.ended"
        )
        change.update(delay=delay, stuck_timeout=stuck_timeout)
        known = self._known.get(event.session_id)
        if known is None and self._create_with_event(event.session_id, key, envelope, change):
            return True
        self._remember(event.session_id)
        if event.type == "session.ended":
            return self._keep_end(event.session_id, key, envelope, change)
        if known is not None and key in known:
            return False  # this instance kept it in the session document: a redelivery
        return None

    def _create_with_event(
        self, session_id: str, key: str, envelope: str, change: dict[str, Any]
    ) -> bool:
        fresh = after_event(None, writing=False, **change)
        assert fresh is not None  # a first event always makes a schedule
        doc = {"session_id": session_id, **self._schedule_doc(fresh), INLINE_FIELD: {key: envelope}}
        try:
            self._sessions.document(session_id).create(doc)
        except gexc.AlreadyExists:
            return False
        self._meter.count("writes")
        self._remember(session_id, key)
        return True

    def _keep_end(self, session_id: str, key: str, envelope: str, change: dict[str, Any]) -> bool:
        ref = self._sessions.document(session_id)

        def end(doc: dict[str, Any] | None) -> tuple[bool, dict[str, Any] | None]:
            if doc is not None and key in (doc.get(INLINE_FIELD) or {}):
                return False, None  # a redelivery
            current, writing = schedule_of(doc)
            updated = after_event(current, writing=writing, **change)
            if doc is None:  # the document expired (TTL) since this instance saw it
                assert updated is not None
                fresh = {"session_id": session_id, **self._schedule_doc(updated)}
                return True, {**fresh, INLINE_FIELD: {key: envelope}}
            fields: dict[str, Any] = {f"{INLINE_FIELD}.`{key}`": envelope}
            if updated is not None:
                fields |= self._schedule_doc(updated)
            return True, fields

        return write_if_unchanged(self._db, ref, end, meter=self._meter)

    def _remember(self, session_id: str, inline_key: str | None = None) -> None:
        if len(self._known) >= KNOWN_SESSIONS_KEPT:
            self._known.clear()
        keys = self._known.setdefault(session_id, set())
        if inline_key:
            keys.add(inline_key)

    def note_event(self, event: Event, *, delay: timedelta, stuck_timeout: timedelta) -> bool:
        """Move the session's schedule for a stored event; ``True`` if the session doc changed.

        Must run after the event is stored: a finalizer that claimed the session before
        this read may have missed the event, and the claim is what tells us so.
        """
        ref = self._sessions.document(event.session_id)
        change: dict[str, Any] = dict(
            occurred_at=event.occurred_at, is_end=event.type == "session.ended"
        )
        change.update(delay=delay, stuck_timeout=stuck_timeout)
        snapshot = read_document(self._db, ref)
        if not snapshot.exists:
            fresh = after_event(None, writing=False, **change)
            assert fresh is not None  # a first event always makes a schedule
            try:
                ref.create({"session_id": event.session_id, **self._schedule_doc(fresh)})
                self._meter.count("writes")
                return True
            except gexc.AlreadyExists:
                snapshot = read_document(self._db, ref)
        current, writing = schedule_of(snapshot.data)
        updated = after_event(current, writing=writing, **change)
        if updated is None:
            return False
        return self._note_change(ref, change)

    def _note_change(self, ref: Any, change: dict[str, Any]) -> bool:
        def note(doc: dict[str, Any] | None) -> tuple[bool, dict[str, Any] | None]:
            current, writing = schedule_of(doc)
            updated = after_event(current, writing=writing, **change)
            if updated is None:
                return False, None
            fields = self._schedule_doc(updated)
            if doc is None:  # the document expired (TTL) since it was read
                return True, {"session_id": ref.id, **fields}
            return True, fields

        return write_if_unchanged(self._db, ref, note, meter=self._meter)

    def request_rewrite(self, session_id: str) -> bool:
        """Make a written (or being written) session due again; ``False`` if never written."""
        ref = self._sessions.document(session_id)

        def rewrite(doc: dict[str, Any] | None) -> tuple[bool, dict[str, Any] | None]:
            current, writing = schedule_of(doc)
            if current is None or not writing:
                return False, None  # the first write has yet to start: it will read what we know
            return True, self._schedule_doc(after_rewrite_request(current))

        return write_if_unchanged(self._db, ref, rewrite, meter=self._meter)

    # --- finalize -----------------------------------------------------------------------

    def due_sessions(self, now: datetime, limit: int) -> list[str]:
        """Ids of sessions owing a write at ``now``, oldest first (index: pending, due_at)."""
        query = (
            self._sessions.where(filter=firestore.FieldFilter("pending", "==", True))
            .where(filter=firestore.FieldFilter("due_at", "<=", ms(now)))
            .order_by("due_at")
            .limit(limit)
        )
        return [snapshot.id for snapshot in query.stream()]

    def backlog(self, now: datetime) -> Backlog:
        """What is still due at ``now`` and which of it live claims hold (index: pending, due_at)."""
        query = self._sessions.where(filter=firestore.FieldFilter("pending", "==", True)).where(
            filter=firestore.FieldFilter("due_at", "<=", ms(now))
        )
        wall = self._wall_clock()
        due, held = 0, []
        for snapshot in query.stream():
            due += 1
            until = ((snapshot.to_dict() or {}).get("claim") or {}).get("until")
            if until is not None and until > wall:
                held.append((snapshot.id, until))
        return Backlog(due=due, held=tuple(sorted(held, key=lambda item: item[1])))

    def due_pages(self, now: datetime, *, page_size: int, limit: int) -> Iterator[list[str]]:
        """Every session id due at ``now``, oldest first, a page per query (same index).

        Pages resume after the last document read (``due_at``, then the name), so a
        backlog of any size is read once, ``page_size`` index entries at a time. Only
        ``due_at`` comes back (what the cursor needs), not the whole document: the tick
        hands out ids, and a page of 1,000 stays a few tens of KB in the instance.
        """
        query = (
            self._sessions.where(filter=firestore.FieldFilter("pending", "==", True))
            .where(filter=firestore.FieldFilter("due_at", "<=", ms(now)))
            .order_by("due_at")
            .order_by("__name__")
            .select(["due_at"])
        )
        cursor = None
        left = limit
        while left > 0:
            size = min(page_size, left)
            page = query.limit(size) if cursor is None else query.start_after(cursor).limit(size)
            snapshots = list(page.stream())
            if snapshots:
                yield [snapshot.id for snapshot in snapshots]
            if len(snapshots) < size:
                return
            left -= size
            cursor = snapshots[-1]

    def claim(self, session_id: str, now: datetime, lease: timedelta) -> Claim | None:
        """Take the session for writing, unless it is not due or another finalizer holds it."""
        ref = self._sessions.document(session_id)
        token = uuid.uuid4().hex

        def take(doc: dict[str, Any] | None) -> tuple[Claim | None, dict[str, Any] | None]:
            if doc is None:
                return None, None
            schedule, _ = schedule_of(doc)
            assert schedule is not None
            held = doc.get("claim")
            wall = self._wall_clock()
            if not (schedule.pending and schedule.due_at <= now):
                return None, None
            if held and held["until"] > wall:
                return None, None
            claim = Claim(
                session_id=session_id,
                token=token,
                schedule=schedule,
                content_hash=doc.get("content_hash"),
                metadata_generation=doc.get("metadata_generation", 0),
                inline=dict(doc.get(INLINE_FIELD) or {}),
            )
            return claim, {"claim": {"token": token, "until": wall + lease}}

        return write_if_unchanged(self._db, ref, take, meter=self._meter)

    def holds(self, claim: Claim) -> bool:
        """Whether ``claim`` is still the session's current claim."""
        doc = read_document(self._db, self._sessions.document(claim.session_id)).data or {}
        return bool((doc.get("claim") or {}).get("token") == claim.token)

    def defer(self, claim: Claim, due_at: datetime) -> bool:
        """Give the session back, due at ``due_at`` (the exact stuck-session time)."""
        ref = self._sessions.document(claim.session_id)

        def give_back(doc: dict[str, Any] | None) -> tuple[bool, dict[str, Any] | None]:
            if doc is None or (doc.get("claim") or {}).get("token") != claim.token:
                return False, None
            current, _ = schedule_of(doc)
            if current is None or not current.awaits_stuck_timeout:
                return True, {"claim": None}  # an end came meanwhile: due as is
            return True, {"claim": None, "due_at": ms(due_at)}

        return write_if_unchanged(self._db, ref, give_back, meter=self._meter)

    def back_off(self, claim: Claim, until: datetime) -> None:
        """Give a session that failed to finalize back, due again at ``until``.

        So that one session that cannot be written does not hold the head of the due
        queue and starve the others.
        """
        ref = self._sessions.document(claim.session_id)
        doc = read_document(self._db, ref).data or {}
        if (doc.get("claim") or {}).get("token") == claim.token:
            ref.update({"claim": None, "due_at": ms(until)})
            self._meter.count("writes")

    def complete(self, claim: Claim, *, version: int, generation: int, content_hash: str) -> bool:
        """Record the write; ``False`` if the claim was lost (another finalizer took over)."""
        ref = self._sessions.document(claim.session_id)

        def record(doc: dict[str, Any] | None) -> tuple[bool, dict[str, Any] | None]:
            if doc is None or (doc.get("claim") or {}).get("token") != claim.token:
                return False, None
            schedule, _ = schedule_of(doc)
            assert schedule is not None
            done = after_write(schedule, version=version, late_seq_seen=claim.schedule.late_seq)
            return True, {
                **self._schedule_doc(done),
                "claim": None,
                "content_hash": content_hash,
                "metadata_generation": generation,
                "written_at": self._wall_clock(),
            }

        return write_if_unchanged(self._db, ref, record, meter=self._meter)

    def _schedule_doc(self, schedule: Schedule) -> dict[str, Any]:
        doc: dict[str, Any] = {name: getattr(schedule, name) for name in SCHEDULE_FIELDS}
        doc["first_at"], doc["due_at"] = ms(schedule.first_at), ms(schedule.due_at)
        doc["expire_at"] = schedule.due_at + self._retention
        return doc


def schedule_of(doc: dict[str, Any] | None) -> tuple[Schedule | None, bool]:
    """The stored schedule, and whether a finalizer has claimed or written the session."""
    if doc is None:
        return None, False
    fields: dict[str, Any] = {name: doc.get(name) for name in SCHEDULE_FIELDS}
    fields["first_at"], fields["due_at"] = at_ms(fields["first_at"]), at_ms(fields["due_at"])
    schedule = Schedule(**fields)
    return schedule, schedule.version > 0 or bool(doc.get("claim"))
