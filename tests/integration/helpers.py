"""Real adapters on the emulators, with names unique to each test."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.api_core import exceptions as gexc
from google.cloud import firestore, pubsub_v1, storage

from shared.adapters.firestore_store import FirestoreStore
from shared.adapters.gcs_files import GcsFiles
from shared.adapters.pubsub import Publisher
from shared.config import Settings


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
    store: FirestoreStore
    files: GcsFiles
    publisher: Publisher
    clock: Clock
    finalized_subscription: str


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
    store = FirestoreStore(
        firestore.Client(project=project),
        sessions=settings.sessions_collection,
        quarantine=settings.quarantine_collection,
        retention=settings.retention,
        wall_clock=clock,
    )
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
        store=store,
        files=GcsFiles(gcs, settings.bucket),
        publisher=Publisher(publisher_client, project),
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
