"""Real adapters on the emulators, with names unique to each test."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.api_core import exceptions as gexc
from google.cloud import firestore, pubsub_v1, storage

from sessionctl.probe import FirestoreProbe
from shared.adapters.firestore_events import FirestoreEvents
from shared.adapters.firestore_quarantine import FirestoreQuarantine
from shared.adapters.firestore_schedule import FirestoreSchedule
from shared.adapters.firestore_ticks import FirestoreTicks
from shared.adapters.gcs_files import GcsFiles
from shared.adapters.pubsub import PubsubMessage, PubsubPublisher
from shared.config import Settings
from shared.service.finalize import FinalizeReport, finalize_due
from shared.service.ingest import IngestResult, ingest_message
from tests.meter import WorkCounts


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Clock:
    """A wall clock the test moves by hand (claim leases read it)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Pipeline:
    settings: Settings
    db: firestore.Client
    events: FirestoreEvents
    schedule: FirestoreSchedule
    quarantine: FirestoreQuarantine
    ticks: FirestoreTicks
    probe: FirestoreProbe
    counts: WorkCounts  # what the adapters above wrote, for the write-count tests
    files: GcsFiles
    publisher: PubsubPublisher
    clock: Clock
    finalized_subscription: str

    def ingest(self, message: PubsubMessage) -> IngestResult:
        """The ingest use case on these adapters (no CRM jobs published)."""
        return ingest_message(
            message,
            events=self.events,
            schedule=self.schedule,
            quarantine=self.quarantine,
            settings=self.settings,
        )

    def finalize(self, now: datetime) -> FinalizeReport:
        """One finalizer run at ``now`` on these adapters."""
        return finalize_due(
            now,
            events=self.events,
            schedule=self.schedule,
            files=self.files,
            publisher=self.publisher,
            settings=self.settings,
        )


def make_pipeline(project: str, **overrides) -> Pipeline:
    """Adapters on fresh collections, a fresh bucket and a fresh finalized topic."""
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        project_id=project,
        sessions_collection=f"sessions_{run}",
        quarantine_collection=f"quarantine_{run}",
        crm_collection=f"crm_{run}",
        bucket=f"files-{run}",
        finalized_topic=f"finalized-{run}",
        **overrides,
    )
    clock = Clock()
    counts = WorkCounts()
    db = firestore.Client(project=project)
    sessions, retention = settings.sessions_collection, settings.retention
    gcs = storage.Client(project=project)
    with contextlib.suppress(gexc.Conflict):
        gcs.create_bucket(settings.bucket)
    publisher_client = pubsub_v1.PublisherClient()
    topic = publisher_client.topic_path(project, settings.finalized_topic)
    publisher_client.create_topic(name=topic)
    subscriber = pubsub_v1.SubscriberClient()
    subscription = subscriber.subscription_path(project, f"tap-{run}")
    subscriber.create_subscription(name=subscription, topic=topic)
    return Pipeline(
        settings=settings,
        db=db,
        events=FirestoreEvents(db, sessions=sessions, retention=retention, meter=counts),
        schedule=FirestoreSchedule(
            db, sessions=sessions, retention=retention, wall_clock=clock, meter=counts
        ),
        quarantine=FirestoreQuarantine(
            db, collection=settings.quarantine_collection, retention=retention, meter=counts
        ),
        ticks=FirestoreTicks(db, collection=f"ticks_{run}", wall_clock=clock, meter=counts),
        probe=FirestoreProbe(
            db, sessions=sessions, quarantine=settings.quarantine_collection, ticks=f"ticks_{run}"
        ),
        counts=counts,
        files=GcsFiles(gcs, settings.bucket),
        publisher=PubsubPublisher(publisher_client, project),
        clock=clock,
        finalized_subscription=subscription,
    )


def pull_notices(subscription: str, max_messages: int = 100) -> list[bytes]:
    subscriber = pubsub_v1.SubscriberClient()
    out: list[bytes] = []
    for _ in range(3):
        response = subscriber.pull(subscription=subscription, max_messages=max_messages, timeout=5)
        if not response.received_messages:
            break
        out += [m.message.data for m in response.received_messages]
        subscriber.acknowledge(
            subscription=subscription, ack_ids=[m.ack_id for m in response.received_messages]
        )
    return out
