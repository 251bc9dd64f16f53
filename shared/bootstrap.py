"""The one place that builds real adapters from the settings, once per instance, lazily.

Entry points call these; tests build the adapters themselves against the emulators.
"""

from __future__ import annotations

from functools import cache

import httpx

from shared.adapters.firestore_deliveries import FirestoreDeliveries
from shared.adapters.firestore_store import FirestoreStore
from shared.adapters.gcs_files import GcsFiles
from shared.adapters.pubsub import Publisher
from shared.adapters.webhook import WebhookClient
from shared.config import Settings, get_settings


@cache
def firestore_client():
    from google.cloud import firestore

    settings = get_settings()
    return firestore.Client(project=settings.project_id, database=settings.firestore_database)


def store(settings: Settings | None = None) -> FirestoreStore:
    settings = settings or get_settings()
    return FirestoreStore(
        firestore_client(),
        sessions=settings.sessions_collection,
        quarantine=settings.quarantine_collection,
        retention=settings.retention,
    )


@cache
def files() -> GcsFiles:
    from google.cloud import storage

    settings = get_settings()
    return GcsFiles(storage.Client(project=settings.project_id), settings.bucket)


@cache
def publisher() -> Publisher:
    from google.cloud import pubsub_v1

    return Publisher(pubsub_v1.PublisherClient(), get_settings().project_id)


def deliveries() -> FirestoreDeliveries:
    settings = get_settings()
    return FirestoreDeliveries(
        firestore_client(), collection=settings.crm_collection, retention=settings.retention
    )


@cache
def webhook() -> WebhookClient | None:
    settings = get_settings()
    if not settings.webhook_url:
        return None
    http = httpx.Client(timeout=settings.crm_timeout_seconds)
    return WebhookClient(http, settings.webhook_url, settings.webhook_secret.get_secret_value())
