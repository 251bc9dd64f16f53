"""The one place that builds real adapters from the settings, once per instance, lazily.

Entry points call these; tests build the adapters themselves against the emulators.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import httpx
from google.cloud import firestore

from shared.adapters.crm import crm_client, file_target
from shared.adapters.firestore_crm import FirestoreCrmRecords
from shared.adapters.firestore_deliveries import FirestoreDeliveries
from shared.adapters.firestore_events import FirestoreEvents
from shared.adapters.firestore_quarantine import FirestoreQuarantine
from shared.adapters.firestore_schedule import FirestoreSchedule
from shared.adapters.firestore_ticks import FirestoreTicks
from shared.adapters.gcs_files import GcsFiles
from shared.adapters.pubsub import PubsubPublisher
from shared.adapters.webhook import WebhookClient
from shared.config import get_settings
from shared.crm.budget import RateBudget
from shared.service.crm import CrmDeps, drain_limit, drain_parked_jobs


@cache
def firestore_client() -> firestore.Client:
    settings = get_settings()
    return firestore.Client(project=settings.project_id, database=settings.firestore_database)


def events() -> FirestoreEvents:
    settings = get_settings()
    return FirestoreEvents(
        firestore_client(), sessions=settings.sessions_collection, retention=settings.retention
    )


def schedule() -> FirestoreSchedule:
    settings = get_settings()
    return FirestoreSchedule(
        firestore_client(), sessions=settings.sessions_collection, retention=settings.retention
    )


def quarantine() -> FirestoreQuarantine:
    settings = get_settings()
    return FirestoreQuarantine(
        firestore_client(), collection=settings.quarantine_collection, retention=settings.retention
    )


def ticks() -> FirestoreTicks:
    return FirestoreTicks(firestore_client())


def crm_records() -> FirestoreCrmRecords:
    settings = get_settings()
    return FirestoreCrmRecords(
        firestore_client(),
        collection=settings.crm_records_collection,
        dead_letters=settings.crm_dead_letters_collection,
        retention=settings.retention,
    )


@cache
def files() -> GcsFiles:
    from google.cloud.storage import Client as StorageClient

    settings = get_settings()
    return GcsFiles(StorageClient(project=settings.project_id), settings.bucket)


@cache
def publisher() -> PubsubPublisher:
    from google.cloud.pubsub_v1 import PublisherClient

    return PubsubPublisher(PublisherClient(), get_settings().project_id)


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


@cache
def crm_deps() -> CrmDeps:
    """The CRM function's collaborators; the budget lives as long as the instance."""
    settings = get_settings()
    budget = RateBudget(settings.crm_calls_per_minute)
    client = crm_client(
        settings.crm,
        timeout=settings.crm_timeout_seconds,
        before_request=budget.acquire,
        on_usage=budget.observe,
    )
    return CrmDeps(
        settings=settings,
        events=events(),
        schedule=schedule(),
        records=crm_records(),
        deliveries=deliveries(),
        client=client,
        target=file_target(settings.crm, client, timeout=settings.crm_timeout_seconds),
        webhook=webhook(),
        budget=budget,
    )


def drain_crm_jobs() -> dict[str, Any]:
    """Release the CRM jobs parked until now onto the CRM jobs topic (the scheduled tick)."""
    settings = get_settings()
    topic = settings.crm_jobs_topic
    return drain_parked_jobs(
        crm_records(),
        lambda job: publisher().publish_json(topic, job),
        limit=drain_limit(settings),
    )
