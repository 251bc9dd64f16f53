"""In-memory fakes of the ports in ``shared/ports.py``, for the use-case unit tests.

Each keeps the contract the Firestore, Cloud Storage and Pub/Sub adapters keep
(create-once events, claims with leases, generation preconditions), with the
domain's own schedule rules, and records what it was asked so that tests can
assert on it. ``fail_next`` makes the next call of a method raise, standing in
for a dependency that is down.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.events import Event
from shared.domain.schedule import Schedule, after_event, after_rewrite_request, after_write
from shared.ports import Claim, GenerationMismatch, QuarantineRecord, StoredObject


class Failing:
    """Lets a test make one method fail once: ``fake.fail_next("add_event", OSError())``."""

    def __init__(self) -> None:
        self._failures: dict[str, Exception] = {}

    def fail_next(self, method: str, error: Exception) -> None:
        self._failures[method] = error

    def _maybe_fail(self, method: str) -> None:
        error = self._failures.pop(method, None)
        if error is not None:
            raise error


class FakeEvents(Failing):
    def __init__(self) -> None:
        super().__init__()
        self.by_session: dict[str, dict[str, Event]] = {}

    def add_event(self, event: Event) -> bool:
        self._maybe_fail("add_event")
        stored = self.by_session.setdefault(event.session_id, {})
        if event.event_id in stored:
            return False
        stored[event.event_id] = event
        return True

    def load_events(
        self, session_id: str, *, inline: Mapping[str, str] | None = None
    ) -> list[Event]:
        self._maybe_fail("load_events")
        return list(self.by_session.get(session_id, {}).values())


@dataclass
class _Held:
    token: str
    until: datetime


@dataclass
class _SessionDoc:
    schedule: Schedule
    claim: _Held | None = None
    content_hash: str | None = None
    metadata_generation: int = 0


class FakeSchedule(Failing):
    """Schedules and claims; ``wall_clock`` is what leases are measured against."""

    def __init__(self, wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        super().__init__()
        self.wall_clock = wall_clock
        self.docs: dict[str, _SessionDoc] = {}

    def schedule(self, session_id: str) -> Schedule | None:
        doc = self.docs.get(session_id)
        return doc.schedule if doc else None

    def _writing(self, doc: _SessionDoc) -> bool:
        return doc.schedule.version > 0 or doc.claim is not None

    def keep_event(
        self, event: Event, *, delay: timedelta, stuck_timeout: timedelta
    ) -> bool | None:
        return None  # every event goes to the EventStore here

    def note_event(self, event: Event, *, delay: timedelta, stuck_timeout: timedelta) -> bool:
        self._maybe_fail("note_event")
        doc = self.docs.get(event.session_id)
        updated = after_event(
            doc.schedule if doc else None,
            occurred_at=event.occurred_at,
            is_end=event.type == "session.ended",
            writing=doc is not None and self._writing(doc),
            delay=delay,
            stuck_timeout=stuck_timeout,
        )
        if updated is None:
            return False
        if doc is None:
            self.docs[event.session_id] = _SessionDoc(updated)
        else:
            doc.schedule = updated
        return True

    def request_rewrite(self, session_id: str) -> bool:
        doc = self.docs.get(session_id)
        if doc is None or not self._writing(doc):
            return False
        doc.schedule = after_rewrite_request(doc.schedule)
        return True

    def due_sessions(self, now: datetime, limit: int) -> list[str]:
        self._maybe_fail("due_sessions")
        due = [
            (doc.schedule.due_at, sid)
            for sid, doc in self.docs.items()
            if doc.schedule.pending and doc.schedule.due_at <= now
        ]
        return [sid for _, sid in sorted(due)[:limit]]

    def due_pages(self, now: datetime, *, page_size: int, limit: int) -> Iterator[list[str]]:
        due = self.due_sessions(now, limit)
        for start in range(0, len(due), page_size):
            yield due[start : start + page_size]

    def claim(self, session_id: str, now: datetime, lease: timedelta) -> Claim | None:
        self._maybe_fail("claim")
        doc = self.docs.get(session_id)
        if doc is None or not (doc.schedule.pending and doc.schedule.due_at <= now):
            return None
        wall = self.wall_clock()
        if doc.claim is not None and doc.claim.until > wall:
            return None
        doc.claim = _Held(uuid.uuid4().hex, wall + lease)
        return Claim(
            session_id=session_id,
            token=doc.claim.token,
            schedule=doc.schedule,
            content_hash=doc.content_hash,
            metadata_generation=doc.metadata_generation,
        )

    def holds(self, claim: Claim) -> bool:
        doc = self.docs.get(claim.session_id)
        return doc is not None and doc.claim is not None and doc.claim.token == claim.token

    def defer(self, claim: Claim, due_at: datetime) -> bool:
        if not self.holds(claim):
            return False
        doc = self.docs[claim.session_id]
        doc.claim = None
        if doc.schedule.awaits_stuck_timeout:
            doc.schedule = replace(doc.schedule, due_at=due_at)
        return True

    def back_off(self, claim: Claim, until: datetime) -> None:
        if self.holds(claim):
            doc = self.docs[claim.session_id]
            doc.claim = None
            doc.schedule = replace(doc.schedule, due_at=until)

    def complete(self, claim: Claim, *, version: int, generation: int, content_hash: str) -> bool:
        self._maybe_fail("complete")
        if not self.holds(claim):
            return False
        doc = self.docs[claim.session_id]
        doc.schedule = after_write(
            doc.schedule, version=version, late_seq_seen=claim.schedule.late_seq
        )
        doc.claim = None
        doc.content_hash = content_hash
        doc.metadata_generation = generation
        return True


class FakeQuarantine(Failing):
    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, QuarantineRecord] = {}

    def keep(self, record: QuarantineRecord) -> None:
        self._maybe_fail("keep")
        self.records.setdefault(record.id, record)

    def list_quarantine(self, *, include_replayed: bool = False) -> list[QuarantineRecord]:
        records = sorted(self.records.values(), key=lambda r: r.received_at)
        return [r for r in records if include_replayed or not r.replayed_as]

    def get_quarantine(self, record_id: str) -> QuarantineRecord | None:
        return self.records.get(record_id)

    def mark_replayed(self, record_id: str, new_message_id: str) -> None:
        self.records[record_id] = replace(self.records[record_id], replayed_as=new_message_id)


class FakeTicks:
    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    def record_tick(self, tick_id: str, now: datetime, outcomes: Mapping[str, list[str]]) -> None:
        doc: dict[str, Any] = {"now": now}
        for outcome, session_ids in outcomes.items():
            doc[outcome] = len(session_ids)
            doc[f"{outcome}_ids"] = list(session_ids)
        self.records[tick_id] = doc

    def tick_record(self, tick_id: str) -> dict[str, Any] | None:
        return self.records.get(tick_id)

    # TickBook: one round at a time; job reports kept per tick.
    round_holder: str | None = None
    round_done: bool = True

    def begin_round(self, tick_id: str, lease: timedelta) -> str | None:
        if self.round_holder not in (None, tick_id) and not self.round_done:
            return self.round_holder
        self.round_holder, self.round_done = tick_id, False
        return None

    def record_dispatch(
        self, tick_id: str, now: datetime, *, jobs: int, sessions: int, busy_with: str | None
    ) -> None:
        self.records[tick_id] = {"now": now, "jobs": jobs, "sessions": sessions}
        self.records[tick_id]["busy_with"] = busy_with
        self.round_done = self.round_done or jobs == 0

    def record_job(self, tick_id: str, job: int, outcomes: Mapping[str, list[str]]) -> None:
        self.records.setdefault(f"{tick_id}/jobs", {}).setdefault(job, dict(outcomes))


class FakeFiles(Failing):
    """A bucket with generations: each write of a name makes a new, larger generation."""

    def __init__(self, bucket_name: str = "fake-bucket") -> None:
        super().__init__()
        self.bucket_name = bucket_name
        self.objects: dict[str, StoredObject] = {}
        self._next_generation = 1000

    def write(self, name: str, data: bytes, *, if_generation_match: int | None) -> int:
        self._maybe_fail("write")
        current = self.objects.get(name)
        if if_generation_match is not None:
            at = current.generation if current else 0
            if at != if_generation_match:
                raise GenerationMismatch(f"{name}: expected generation {if_generation_match}")
        self._next_generation += 1
        self.objects[name] = StoredObject(name, data, self._next_generation)
        return self._next_generation

    def read(self, name: str) -> StoredObject | None:
        return self.objects.get(name)

    def json(self, name: str) -> Any:
        stored = self.objects.get(name)
        return None if stored is None else json.loads(stored.data)


@dataclass(frozen=True)
class Published:
    topic: str
    data: bytes
    attributes: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.data)


class FakePublisher(Failing):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[Published] = []

    def publish(self, topic: str, data: bytes, **attributes: str) -> str:
        self._maybe_fail("publish")
        self.messages.append(Published(topic, data, dict(attributes)))
        return f"fake-{len(self.messages)}"

    def publish_json(self, topic: str, doc: Mapping[str, Any], **attributes: str) -> str:
        data = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return self.publish(topic, data, **attributes)

    def publish_json_many(
        self, topic: str, docs: Sequence[tuple[Mapping[str, Any], Mapping[str, str]]]
    ) -> list[str]:
        return [self.publish_json(topic, doc, **attrs) for doc, attrs in docs]

    def on(self, topic: str) -> list[Any]:
        """The JSON bodies published to ``topic``, in order."""
        return [m.json() for m in self.messages if m.topic == topic]


# --- CRM ------------------------------------------------------------------------------------


class FakeCrmRecords(Failing):
    """``CrmRecordStore`` in memory: claims with leases, the routing index, parked jobs."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        super().__init__()
        from shared.crm.records import CrmRecord

        self._clock = clock
        self._empty = CrmRecord
        self.docs: dict[str, dict[str, Any]] = {}
        self.routes: dict[tuple[str, str], Any] = {}
        self.parked_jobs: dict[str, Any] = {}
        self.letters: dict[str, Any] = {}
        self._writes = 0

    def get(self, session_id: str) -> Any:
        doc = self.docs.get(session_id, {})
        fields = {k: v for k, v in doc.items() if k in self._empty.__dataclass_fields__}
        return self._empty(session_id=session_id, **fields)

    def claim(self, session_id: str, lease: timedelta) -> Any:
        from shared.crm.errors import ClaimHeld
        from shared.crm.records import RecordClaim

        doc = self.docs.setdefault(session_id, {})
        if doc.get("record_id"):
            return None
        now = self._clock()
        held = doc.get("claim")
        if held and held.until > now:
            raise ClaimHeld(session_id)
        token = uuid.uuid4().hex
        attempts = doc.get("attempts", 0)
        doc.update(claim=_Held(token, now + lease), attempts=attempts + 1)
        create_at = doc.get("create_at")
        return RecordClaim(session_id, token, create_at is not None, create_at, attempts > 0)

    def created(self, claim: Any, record_id: str, url: str | None) -> str:
        doc = self.docs[claim.session_id]
        doc.setdefault("record_id", record_id)
        doc.setdefault("url", url)
        doc["claim"] = None
        return doc["record_id"]

    def release(self, claim: Any, *, nothing_created: bool = False) -> None:
        doc = self.docs[claim.session_id]
        doc["claim"] = None
        if nothing_created:
            doc.pop("create_at", None)

    def creating(self, session_id: str) -> None:
        self.docs.setdefault(session_id, {})["create_at"] = self._clock()

    def moved(self, session_id: str, record_id: str, url: str | None) -> None:
        self.docs[session_id].update(record_id=record_id, url=url)

    def noted(self, session_id: str) -> None:
        self.docs.setdefault(session_id, {})["noted"] = True

    def attaching(self, session_id: str, version: int) -> None:
        self.docs.setdefault(session_id, {})["attaching_version"] = version

    def attached(self, session_id: str, version: int, attachment_id: str) -> None:
        doc = self.docs.setdefault(session_id, {})
        if doc.get("attached_version", 0) < version:
            doc.update(attached_version=version, attachment_id=attachment_id)

    def route(self, end_user_id: str, leaf_queue: str) -> Any:
        return self.routes.get((end_user_id, leaf_queue))

    def set_route(self, route: Any) -> None:
        self.routes[(route.end_user_id, route.leaf_queue)] = route

    def drop_route(self, end_user_id: str, leaf_queue: str, record_id: str) -> None:
        route = self.routes.get((end_user_id, leaf_queue))
        if route is not None and route.record_id == record_id:
            del self.routes[(end_user_id, leaf_queue)]

    def park(self, job_id: str, job: dict[str, Any], not_before: datetime, reason: str) -> None:
        from shared.crm.records import ParkedJob

        self._writes += 1
        before = self.parked_jobs.get(job_id)
        self.parked_jobs[job_id] = ParkedJob(
            job_id,
            job,
            not_before,
            before.parked_at if before else self._clock(),
            reason,
            (before.times if before else 0) + 1,
            self._writes,
        )

    def due_parked(self, now: datetime, limit: int) -> list[Any]:
        due = [p for p in self.parked_jobs.values() if p.not_before <= now]
        return sorted(due, key=lambda p: p.not_before)[:limit]

    def unpark(self, job: Any) -> bool:
        current = self.parked_jobs.get(job.id)
        if current is None or current.version != job.version:
            return False
        del self.parked_jobs[job.id]
        return True

    def parked_stats(self, now: datetime | None = None) -> Any:
        from shared.crm.records import ParkedStats

        now = now or self._clock()
        ages = [(now - p.parked_at).total_seconds() for p in self.parked_jobs.values()]
        return ParkedStats(len(ages), max(ages, default=0.0))

    def dead_letter(self, letter_id: str, job: dict[str, Any], error: str) -> None:
        self.letters[letter_id] = (job, error)

    def dead_letters(self, *, include_replayed: bool = False) -> list[Any]:
        return list(self.letters.items())


class FakeDeliveries:
    def __init__(self) -> None:
        self.by_key: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        return self.by_key.get(key)

    def record(self, key: str, **fields: Any) -> None:
        self.by_key[key] = fields
