"""Operating a deployed pipeline: the backlog, the Pub/Sub dead-letter holds, the smoke test.

Everything here goes through the same clients the functions use (Firestore, Pub/Sub,
Cloud Storage), so it works on a project and, with the ``*_EMULATOR_HOST`` variables
set, on emulators alike. Long operations report progress through a callback
(``progress(text)``) so the command layer decides how to show it.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sessionctl.target import Deployed, Hold

Progress = Callable[[str], None]
PEEK_LIMIT = 100  # dead letters counted per hold by `status` (more shows as "100+")
# Attributes Pub/Sub adds when it dead-letters a message; not copied on republish.
_DEAD_LETTER_ATTRIBUTE = "CloudPubSubDeadLetter"


def _quiet(_: str) -> None:
    pass


# --------------------------------------------------------------------------- status


@dataclass
class Status:
    """The backlog of one environment at ``now``."""

    now: datetime
    due_sessions: int
    oldest_due: datetime | None
    claims: list[tuple[str, datetime]]  # live finalize claims: (session id, held until)
    parked_jobs: int | None  # None: this deployment keeps no parked CRM jobs
    oldest_parked_age_s: float | None
    crm_dead_letters: int
    quarantined: int
    holds: dict[str, int]  # trigger -> dead letters waiting (up to PEEK_LIMIT)

    @property
    def oldest_due_age_s(self) -> float | None:
        return None if self.oldest_due is None else (self.now - self.oldest_due).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now,
            "due_sessions": self.due_sessions,
            "oldest_due": self.oldest_due,
            "oldest_due_age_s": self.oldest_due_age_s,
            "claims": [{"session_id": s, "until": u} for s, u in self.claims],
            "parked_crm_jobs": self.parked_jobs,
            "oldest_parked_age_s": self.oldest_parked_age_s,
            "crm_dead_letters": self.crm_dead_letters,
            "quarantined": self.quarantined,
            "dead_letter_holds": self.holds,
        }


def status(target: Deployed, *, now: datetime | None = None, progress: Progress = _quiet) -> Status:
    from google.cloud import firestore

    from shared import bootstrap
    from shared.config import get_settings

    now = now or datetime.now(UTC)
    settings = get_settings()
    db = bootstrap.firestore_client()
    sessions = db.collection(settings.sessions_collection)

    progress("counting due sessions")
    due = sessions.where(filter=firestore.FieldFilter("pending", "==", True)).where(
        filter=firestore.FieldFilter("due_at", "<=", int(now.timestamp() * 1000))
    )
    count = int(due.count().get()[0][0].value)
    oldest = next(iter(due.order_by("due_at").limit(1).get()), None)
    oldest_due = datetime.fromtimestamp(oldest.to_dict()["due_at"] / 1000, UTC) if oldest else None

    progress("looking for live finalize claims")
    claims = []
    for snap in (
        sessions.where(filter=firestore.FieldFilter("claim.until", ">", now)).limit(20).get()
    ):
        until = (snap.to_dict().get("claim") or {}).get("until")
        if isinstance(until, datetime):
            claims.append((snap.id, until))

    progress("counting parked CRM jobs, CRM dead letters and quarantined messages")
    records = bootstrap.crm_records()
    parked_stats = getattr(records, "parked_stats", None)
    parked, parked_age = None, None
    if parked_stats is not None:
        stats = parked_stats(now)
        parked, parked_age = stats.count, stats.oldest_age_seconds
    crm_dead = len(records.dead_letters(include_replayed=False))
    quarantined = len(bootstrap.quarantine().list_quarantine(include_replayed=False))

    holds = {}
    for key, hold in sorted(target.holds.items()):
        progress(f"peeking at the dead-letter hold {hold.subscription}")
        holds[key] = len(peek(target, hold, limit=PEEK_LIMIT))
    return Status(
        now=now,
        due_sessions=count,
        oldest_due=oldest_due,
        claims=sorted(claims, key=lambda c: c[1]),
        parked_jobs=parked,
        oldest_parked_age_s=parked_age,
        crm_dead_letters=crm_dead,
        quarantined=quarantined,
        holds=holds,
    )


# --------------------------------------------------------------------------- holds


@dataclass(frozen=True)
class Letter:
    """A message waiting in a dead-letter hold."""

    message_id: str
    published: datetime | None
    attributes: dict[str, str]
    data: bytes
    attempts: int | None  # deliveries before it was dead-lettered, when Pub/Sub says

    def summary(self, width: int = 80) -> str:
        text = self.data.decode("utf-8", "replace").replace("\n", " ")
        return text if len(text) <= width else text[: width - 1] + "…"


def _subscriber():
    from google.cloud import pubsub_v1

    return pubsub_v1.SubscriberClient()


def _publisher():
    from google.cloud import pubsub_v1

    return pubsub_v1.PublisherClient()


def _pull(subscriber, path: str, max_messages: int) -> list[Any]:
    """One pull; an empty hold answers with nothing (or a deadline) rather than waiting."""
    from google.api_core import exceptions

    try:
        # return_immediately is deprecated but still honoured: an operator's look at an
        # empty hold should not wait out a long poll.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            response = subscriber.pull(
                request={
                    "subscription": path,
                    "max_messages": max_messages,
                    "return_immediately": True,
                },
                timeout=10,
            )
    except exceptions.DeadlineExceeded:
        return []
    except exceptions.NotFound:
        raise LookupError(f"no subscription {path}: is this environment deployed?") from None
    return list(response.received_messages)


def _letter(received: Any) -> Letter:
    message = received.message
    published = message.publish_time
    attributes = dict(message.attributes)
    return Letter(
        message_id=message.message_id,
        published=published if isinstance(published, datetime) else None,
        attributes=attributes,
        data=bytes(message.data),
        attempts=getattr(received, "delivery_attempt", None) or None,
    )


def _batches(subscriber, path: str, limit: int | None) -> Iterator[list]:
    """Pull batches (holding them) until the hold is empty or ``limit`` letters came."""
    seen = 0
    while limit is None or seen < limit:
        want = 100 if limit is None else min(100, limit - seen)
        batch = _pull(subscriber, path, want)
        if not batch:
            return
        seen += len(batch)
        yield batch


def _hold_path(subscriber, target: Deployed, hold: Hold) -> str:
    return subscriber.subscription_path(target.project, hold.subscription)


def peek(target: Deployed, hold: Hold, *, limit: int = 100) -> list[Letter]:
    """Up to ``limit`` letters, left in the hold (their lease is given back at once)."""
    letters: dict[str, Letter] = {}
    leased: list[str] = []
    subscriber = _subscriber()
    path = _hold_path(subscriber, target, hold)
    try:
        for batch in _batches(subscriber, path, limit):
            fresh = [r for r in batch if r.message.message_id not in letters]
            leased += [r.ack_id for r in batch]
            for received in fresh:
                letters[received.message.message_id] = _letter(received)
            if not fresh:
                break
    finally:
        _release(subscriber, path, leased)
        subscriber.close()
    return list(letters.values())


def _release(subscriber, path: str, ack_ids: list[str]) -> None:
    from google.api_core import exceptions

    if not ack_ids:
        return
    # If this fails, the lease runs out by itself within the hold's ack deadline.
    with contextlib.suppress(exceptions.GoogleAPICallError, ValueError):
        subscriber.modify_ack_deadline(
            request={"subscription": path, "ack_ids": ack_ids, "ack_deadline_seconds": 0}
        )


def republish(
    target: Deployed, hold: Hold, *, limit: int | None = None, progress: Progress = _quiet
) -> list[tuple[str, str]]:
    """Put letters back on their topic, each acknowledged only once published again.

    Returns (old message id, new message id) pairs. The attributes Pub/Sub added when
    dead-lettering are dropped; the data and the original attributes are kept.
    """
    publisher = _publisher()
    topic = publisher.topic_path(target.project, hold.topic)
    done: list[tuple[str, str]] = []
    subscriber = _subscriber()
    path = _hold_path(subscriber, target, hold)
    for batch in _batches(subscriber, path, limit):
        futures = []
        for received in batch:
            attributes = {
                k: v
                for k, v in received.message.attributes.items()
                if not k.startswith(_DEAD_LETTER_ATTRIBUTE)
            }
            futures.append(
                (received, publisher.publish(topic, bytes(received.message.data), **attributes))
            )
        acked = []
        for received, future in futures:
            done.append((received.message.message_id, future.result(timeout=60)))
            acked.append(received.ack_id)
        subscriber.acknowledge(request={"subscription": path, "ack_ids": acked})
        progress(f"{len(done)} republished to {hold.topic}")
    subscriber.close()
    return done


def purge(
    target: Deployed, hold: Hold, *, limit: int | None = None, progress: Progress = _quiet
) -> int:
    """Acknowledge (delete) the letters of a hold; how many."""
    purged = 0
    subscriber = _subscriber()
    path = _hold_path(subscriber, target, hold)
    for batch in _batches(subscriber, path, limit):
        subscriber.acknowledge(request={"subscription": path, "ack_ids": [r.ack_id for r in batch]})
        purged += len(batch)
        progress(f"{purged} purged from {hold.subscription}")
    subscriber.close()
    return purged


# --------------------------------------------------------------------------- smoke


@dataclass
class SmokeResult:
    session_id: str
    message_ids: list[str]
    file: str | None = None
    datastream: str | None = None
    crm: str | None = None  # where the CRM record is, or what was delivered
    cleaned: list[str] = field(default_factory=list)


def smoke_session(session_id: str, ended: datetime) -> list[bytes]:
    """A short, valid voice session that ended at ``ended`` (never quarantined)."""
    created = ended - timedelta(minutes=3)

    def envelope(n: int, type_: str, at: datetime, data: dict[str, Any]) -> bytes:
        return json.dumps(
            {
                "spec": "session-event/v1",
                "event_id": f"{session_id}-{n:03d}",
                "session_id": session_id,
                "channel": "voice",
                "type": type_,
                "occurred_at": at.isoformat(timespec="milliseconds"),
                "data": data,
            }
        ).encode("utf-8")

    return [
        envelope(
            1,
            "session.created",
            created,
            {
                "session_type": "Voice Inbound (IVR)",
                "lang": "en",
                "support_number": "+12223334444",
                "end_user": {"id": "smoke-test", "identifier": "smoke-test"},
            },
        ),
        envelope(
            2,
            "session.status_changed",
            created + timedelta(seconds=1),
            {
                "status": "selecting",
                "status_code": 12,
            },
        ),
        envelope(
            3, "session.ended", ended, {"final_status": "finished", "disconnected_by": "agent"}
        ),
    ]


def smoke(
    target: Deployed,
    *,
    tick: bool = True,
    expect_crm: bool | None = None,
    timeout: float = 300,
    clean: bool = True,
    progress: Progress = _quiet,
    now: datetime | None = None,
) -> SmokeResult:
    """One synthetic session through the deployed path; raises on any missing effect."""
    from shared import bootstrap
    from shared.adapters.firestore_deliveries import FirestoreDeliveries
    from shared.config import get_settings
    from shared.domain.files import datastream_name, metadata_name

    settings = get_settings()
    now = now or datetime.now(UTC)
    session_id = f"smoke-{now:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"
    # Ended long enough ago to be due at the next tick, not 15 minutes from now.
    ended = now - timedelta(seconds=target.finalize_delay_seconds + 60)
    result = SmokeResult(session_id=session_id, message_ids=[])
    deadline = time.monotonic() + timeout

    def wait(what: str, probe: Callable[[], Any]) -> Any:
        progress(f"waiting for {what}")
        while True:
            found = probe()
            if found:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"smoke session {session_id}: no {what} after {timeout:.0f} s")
            time.sleep(1)

    publisher = _publisher()
    events_topic = publisher.topic_path(target.project, target.topics["events"])
    progress(f"publishing session {session_id} to {target.topics['events']}")
    for raw in smoke_session(session_id, ended):
        future = publisher.publish(events_topic, raw, session_id=session_id)
        result.message_ids.append(future.result(timeout=60))

    from sessionctl.probe import local_probe

    probe = local_probe()
    try:
        keys = [(session_id, f"{session_id}-{n:03d}") for n in (1, 2, 3)]

        def stored() -> bool:
            if probe.quarantined(result.message_ids):
                reasons = [
                    f"{r.reason}: {r.detail}"
                    for r in bootstrap.quarantine().list_quarantine(include_replayed=True)
                    if r.id in result.message_ids
                ]
                raise RuntimeError(f"smoke session {session_id} was quarantined: {reasons}")
            return probe.stored(keys) == len(keys)

        wait("the events to be stored", stored)

        def due() -> bool:  # ingest notes the schedule just after storing the events
            schedule = probe.schedule(session_id)
            return bool(schedule and schedule.pending and schedule.due_at <= datetime.now(UTC))

        wait("the session to be due", due)
        files = bootstrap.files()
        name = metadata_name(settings.object_prefix, session_id)
        ticks = publisher.topic_path(target.project, target.topics["ticks"])
        last_tick = [0.0]

        def written() -> object:
            # A tick now and every 20 s (ticks are idempotent; Cloud Scheduler's come too).
            if tick and time.monotonic() - last_tick[0] > 20:
                publisher.publish(ticks, b"{}").result(timeout=60)
                last_tick[0] = time.monotonic()
            return files.read(name)

        wait(f"gs://{files.bucket_name}/{name}", written)
        result.file = f"gs://{files.bucket_name}/{name}"
        stream = datastream_name(settings.object_prefix, session_id)
        if files.read(stream):
            result.datastream = f"gs://{files.bucket_name}/{stream}"

        if expect_crm is None:
            expect_crm = target.crm_configured is not False
        if expect_crm:
            deliveries = FirestoreDeliveries(
                bootstrap.firestore_client(), collection=settings.crm_collection
            )

            def crm_done() -> str | None:
                record = bootstrap.crm_records().get(session_id)
                if record.record_id:
                    return f"CRM record {record.record_id}" + (
                        f" {record.url}" if record.url else ""
                    )
                delivered = deliveries.get(f"{session_id}:1") or {}
                if delivered.get("status") == "delivered":
                    return f"webhook delivery of version 1 (HTTP {delivered.get('http_status')})"
                return None

            result.crm = wait("the CRM record", crm_done)
        return result
    finally:
        if clean:
            progress("cleaning up")
            result.cleaned = cleanup(session_id, settings)


def cleanup(session_id: str, settings: Any) -> list[str]:
    """Delete what the smoke session left in Firestore and the bucket; what was deleted.

    A record created in an external CRM stays there (the smoke output names it).
    """
    from google.api_core import exceptions

    from shared import bootstrap
    from shared.adapters.firestore_deliveries import FirestoreDeliveries
    from shared.domain.files import datastream_name, metadata_name

    gone: list[str] = []
    db = bootstrap.firestore_client()
    bucket = bootstrap.files().bucket_name
    from google.cloud import storage

    blobs = storage.Client(project=settings.project_id).bucket(bucket)
    for name in (
        metadata_name(settings.object_prefix, session_id),
        datastream_name(settings.object_prefix, session_id),
    ):
        try:
            # Every generation: the files bucket keeps replaced versions.
            for blob in blobs.list_blobs(prefix=name, versions=True):
                if blob.name == name:
                    blobs.delete_blob(name, generation=blob.generation)
                    gone.append(f"gs://{bucket}/{name}#{blob.generation}")
        except exceptions.NotFound:
            pass
    session = db.collection(settings.sessions_collection).document(session_id)
    for child in session.collections():
        for doc in child.list_documents():
            doc.delete()
            gone.append(f"{child.id}/{doc.id}")
    session.delete()
    gone.append(f"{settings.sessions_collection}/{session_id}")
    db.collection(settings.crm_records_collection).document(session_id).delete()
    delivery = FirestoreDeliveries.doc_id(f"{session_id}:1")
    db.collection(settings.crm_collection).document(delivery).delete()
    return gone
