"""How a benchmark runs the finalizer: the one place that knows its deployed shape.

Every figure finalizes through ``finalize_all`` so that the figures measure what
the functions run, whatever shape the finalizer has, and the bare skeleton it is
compared with lives here too.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore, pubsub_v1, storage

from shared.adapters.firestore_common import read_document
from shared.adapters.firestore_events import FirestoreEvents
from shared.adapters.firestore_quarantine import FirestoreQuarantine
from shared.adapters.firestore_schedule import FirestoreSchedule
from shared.adapters.firestore_ticks import OUTCOMES, FirestoreTicks
from shared.adapters.gcs_files import GcsFiles
from shared.adapters.pubsub import PubsubMessage, PubsubPublisher
from shared.config import Settings
from shared.messages import FinalizeJob
from shared.service.finalize import finalize_job
from shared.service.ingest import ingest_message
from shared.service.tick import dispatch_due
from tests.factory import T0, SessionScript
from tests.meter import WorkCounts

CONCURRENCY = 8  # the finalizer's request concurrency per instance the figures compare at
SESSION_END = timedelta(seconds=60)  # the small due sessions below end 60 s after they start


@dataclass
class Bench:
    """Adapters on one set of collections, bucket and topics (like the deployed settings)."""

    settings: Settings
    events: FirestoreEvents
    schedule: FirestoreSchedule
    quarantine: FirestoreQuarantine
    counts: WorkCounts  # what the Firestore adapters report (writes, transactions)
    files: GcsFiles
    publisher: PubsubPublisher
    db: firestore.Client
    ticks: FirestoreTicks

    @property
    def jobs_subscription(self) -> str:
        project, topic = self.settings.project_id, self.settings.finalize_jobs_topic
        return f"projects/{project}/subscriptions/{topic}-sub"


def settings_for(project: str, run: str | None = None) -> Settings:
    run = run or uuid.uuid4().hex[:8]
    return Settings(
        project_id=project,
        sessions_collection=f"sessions_{run}",
        quarantine_collection=f"quarantine_{run}",
        crm_collection=f"crm_{run}",
        bucket=f"bench-{run}",
        finalized_topic=f"finalized-{run}",
        ticks_topic=f"ticks-{run}",
        finalize_jobs_topic=f"jobs-{run}",
    )


def bench_from(settings: Settings) -> Bench:
    """Adapters for existing resources (a probe process rebuilds the parent's this way)."""
    db = firestore.Client(project=settings.project_id)
    counts = WorkCounts()
    sessions, retention = settings.sessions_collection, settings.retention
    files = GcsFiles(storage.Client(project=settings.project_id), settings.bucket)
    publisher = PubsubPublisher(pubsub_v1.PublisherClient(), settings.project_id)
    return Bench(
        settings=settings,
        events=FirestoreEvents(db, sessions=sessions, retention=retention, meter=counts),
        schedule=FirestoreSchedule(db, sessions=sessions, retention=retention, meter=counts),
        quarantine=FirestoreQuarantine(
            db, collection=settings.quarantine_collection, retention=retention, meter=counts
        ),
        counts=counts,
        files=files,
        publisher=publisher,
        db=db,
        ticks=FirestoreTicks(db, collection=f"ticks_{sessions}", meter=counts),
    )


def new_bench(project: str) -> Bench:
    """Fresh collections, bucket and topics, each with a subscription (as deployed)."""
    settings = settings_for(project)
    gcs = storage.Client(project=project)
    with contextlib.suppress(gexc.Conflict):
        gcs.create_bucket(settings.bucket)
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    for topic in (settings.finalized_topic, settings.ticks_topic, settings.finalize_jobs_topic):
        path = publisher.topic_path(project, topic)
        publisher.create_topic(name=path)
        subscriber.create_subscription(
            name=subscriber.subscription_path(project, f"{topic}-sub"),
            topic=path,
            ack_deadline_seconds=600,
        )
    return bench_from(settings)


# --- traffic ---------------------------------------------------------------------------------


def small_session(session_id: str) -> SessionScript:
    """A short answered call (4 events): created, assigned, connected, ended."""
    s = SessionScript(session_id=session_id, start=T0)
    s.at(0).add("session.created", {"session_type": "Voice inbound", "end_user": {"id": "u1"}})
    s.at(20).status("assigned", 2, agent={"id": "a1", "name": "Noam B"})
    s.at(25).status("connected", 5)
    s.at(SESSION_END.total_seconds()).add(
        "session.ended", {"final_status": "finished", "disconnected_by": "agent"}
    )
    return s


DUE_NOW = T0 + SESSION_END + timedelta(minutes=15, seconds=1)  # every small session is due


def ingest_bodies(bench: Bench, bodies: list[bytes], workers: int = CONCURRENCY) -> list[str]:
    """Run each body through the ingest use case, ``workers`` at a time; the outcomes."""

    def one(body: bytes) -> str:
        message = PubsubMessage(data=body, message_id=uuid.uuid4().hex)
        return ingest_message(
            message,
            events=bench.events,
            schedule=bench.schedule,
            quarantine=bench.quarantine,
            settings=bench.settings,
        ).outcome

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, bodies))


def seed_due(bench: Bench, count: int, prefix: str = "due") -> list[str]:
    """``count`` small sessions, stored through ingest; all due at ``DUE_NOW``."""
    run = uuid.uuid4().hex[:6]
    ids = [f"{prefix}-{run}-{n:06d}" for n in range(count)]
    bodies = [json.dumps(d).encode() for sid in ids for d in small_session(sid).docs]
    ingest_bodies(bench, bodies)
    return ids


# --- the finalizer as deployed ---------------------------------------------------------------


def finalize_all(bench: Bench, now: datetime, workers: int = CONCURRENCY) -> Counter[str]:
    """Finalize everything due at ``now`` the way the deployed finalizer does; the outcomes.

    The deployed shape: the tick (``dispatch_due``) publishes finalize jobs; Pub/Sub
    pushes each job to a finalize worker (``finalize_job``). Here ``workers`` threads
    stand for the workers' request concurrency, taking jobs off the jobs topic's
    subscription as push would deliver them.
    """
    tick_id = uuid.uuid4().hex
    dispatch = dispatch_due(
        now,
        tick_id=tick_id,
        schedule=bench.schedule,
        ticks=bench.ticks,
        publisher=bench.publisher,
        settings=bench.settings,
    )
    run_jobs(bench, workers, dispatch.jobs)
    record = bench.ticks.tick_record(tick_id)
    assert record is not None, "every job ran, yet the tick's record is incomplete"
    return Counter({k: int(record.get(k, 0)) for k in OUTCOMES})


def run_jobs(bench: Bench, workers: int, jobs: int) -> int:
    """Deliver ``jobs`` jobs from the jobs subscription to ``workers`` threads, as push
    with that request concurrency would: each thread takes the next job when free."""
    subscriber = pubsub_v1.SubscriberClient()

    def one(received: Any) -> None:
        finalize_job(
            FinalizeJob.model_validate_json(received.message.data),
            events=bench.events,
            schedule=bench.schedule,
            ticks=bench.ticks,
            files=bench.files,
            publisher=bench.publisher,
            settings=bench.settings,
        )
        subscriber.acknowledge(subscription=bench.jobs_subscription, ack_ids=[received.ack_id])

    taken: list[Future[None]] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while len(taken) < jobs:
            response = subscriber.pull(
                subscription=bench.jobs_subscription,
                max_messages=min(workers * 2, jobs - len(taken)),
                timeout=30,
            )
            taken += [pool.submit(one, received) for received in response.received_messages]
        for future in taken:
            future.result()
    subscriber.close()
    return len(taken)


PROBE_SHARE = 100  # sessions one probed instance works, whatever the backlog


def finalize_probe(
    bench: Bench, now: datetime, on_dispatched: Callable[[], None] = lambda: None
) -> Counter[str]:
    """What one finalizer instance does: the tick hands every due session out, and a
    worker takes its share of jobs. The RSS probe runs this.

    The share is the same at every backlog (``PROBE_SHARE`` sessions): the other jobs go
    to other instances, so what a bigger backlog may add to one instance's memory is the
    dispatch (every due id read and handed out), and that is what the probe compares.
    """
    tick_id = uuid.uuid4().hex
    dispatch = dispatch_due(
        now,
        tick_id=tick_id,
        schedule=bench.schedule,
        ticks=bench.ticks,
        publisher=bench.publisher,
        settings=bench.settings,
    )
    on_dispatched()
    share = min(dispatch.jobs, max(1, PROBE_SHARE // bench.settings.finalize_job_size))
    worked = run_jobs(bench, CONCURRENCY, share)
    return Counter({"sessions": dispatch.sessions, "jobs": dispatch.jobs, "jobs_worked": worked})


# --- the bare skeleton -----------------------------------------------------------------------


def due_query_pages(bench: Bench, now: datetime) -> list[str]:
    """The bare due query, page by page, as Firestore would serve it from the index: the
    tick's query (same filters, order, projection and page size), with nothing around it."""
    collection = bench.db.collection(bench.settings.sessions_collection)
    now_ms = int(now.timestamp() * 1000)
    page = bench.settings.finalize_batch_size
    ids: list[str] = []
    cursor = None
    while True:
        query = (
            collection.where(filter=firestore.FieldFilter("pending", "==", True))
            .where(filter=firestore.FieldFilter("due_at", "<=", now_ms))
            .order_by("due_at")
            .order_by("__name__")
            .select(["due_at"])
            .limit(page)
        )
        if cursor is not None:
            query = query.start_after(cursor)
        snapshots = list(query.stream())
        ids += [s.id for s in snapshots]
        if len(snapshots) < page:
            return ids
        cursor = snapshots[-1]


def skeleton_finalize(bench: Bench, now: datetime, workers: int = CONCURRENCY) -> int:
    """The same Firestore / GCS / Pub/Sub calls per due session, with nothing in between.

    Per session: a claim (a read, then an update with an update-time precondition, as
    ``write_if_unchanged``), the events query, two object uploads (one create-only), one
    notice published and awaited, a completion (read, conditional update). It leaves
    every session as it found it (due), so the real finalizer can run on the same
    sessions afterwards; its objects go to a bucket of their own, so that the finalizer
    after it starts on the bucket it would have found.
    """
    ids = due_query_pages(bench, now)
    collection = bench.db.collection(bench.settings.sessions_collection)
    run = uuid.uuid4().hex[:6]
    bucket = storage.Client(project=bench.settings.project_id).create_bucket(f"skeleton-{run}")
    publisher = bench.publisher

    def one(session_id: str) -> None:
        ref = collection.document(session_id)
        seen = read_document(bench.db, ref)  # the claim: a read, then a write if unchanged
        ref.update(
            {"skeleton": run}, option=bench.db.write_option(last_update_time=seen.update_time)
        )
        events = [s.to_dict() for s in ref.collection("events").stream()]
        body = json.dumps(events, default=str).encode()
        bucket.blob(f"datastream-{session_id}.json").upload_from_string(body)
        bucket.blob(f"metadata-{session_id}.json").upload_from_string(
            body[:4000], if_generation_match=0
        )
        publisher.publish(bench.settings.finalized_topic, body[:4000], session_id=session_id)
        seen = read_document(bench.db, ref)  # the completion: the same
        ref.update(
            {"skeleton": firestore.DELETE_FIELD},
            option=bench.db.write_option(last_update_time=seen.update_time),
        )

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, ids))
    return len(ids)


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started
