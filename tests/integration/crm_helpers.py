"""Builders for CRM use-case tests: real adapters on the emulators, look-alike CRMs over HTTP.

``crm_deps`` wires ``CrmDeps`` the way ``shared.bootstrap.crm_deps`` does, on fresh
collections; ``feed`` ingests a session event by event and runs each CRM trigger
job right after the event that publishes it, as ingest and the ``crm`` function
would; the readers below look at what the look-alike CRM holds, in its own format.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import cache
from typing import Any

import httpx
from google.cloud import firestore

from devstack import lookalikes
from shared.adapters.crm import crm_client, file_target
from shared.adapters.firestore_crm import FirestoreCrmRecords
from shared.adapters.firestore_deliveries import FirestoreDeliveries
from shared.adapters.firestore_events import FirestoreEvents
from shared.adapters.firestore_schedule import FirestoreSchedule
from shared.config import Settings
from shared.crm.budget import RateBudget
from shared.crm.settings import (
    CrmKind,
    CrmSettings,
    FreshdeskSettings,
    KustomerSettings,
    SalesforceSettings,
    ZendeskSettings,
)
from shared.crm.triggers import crm_trigger
from shared.domain.errors import TransientError
from shared.domain.events import parse_event
from shared.service.crm import CrmDeps, drain_parked_jobs, handle_crm_message
from tests.factory import SessionScript, raw

CRMS: tuple[CrmKind, ...] = ("zendesk", "salesforce", "freshdesk", "kustomer")
# The main record collection of each look-alike, and the field holding the session key.
RECORDS = {
    "zendesk": "tickets",
    "salesforce": "cases",
    "freshdesk": "tickets",
    "kustomer": "conversations",
}
OPEN_AGAIN = {"zendesk": "open", "salesforce": "New", "freshdesk": 2, "kustomer": "open"}


class VirtualTime:
    """A monotonic clock and a sleep that moves it: a ``RateBudget`` that never really waits."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds

    def budget(self, per_minute: int) -> RateBudget:
        return RateBudget(per_minute, clock=self.clock, sleep=self.sleep)


@cache
def firestore_client(project: str) -> firestore.Client:
    return firestore.Client(project=project)


def crm_settings(
    kind: CrmKind, fakes: lookalikes.Running, index_lag_seconds: float = 300.0, **rules: Any
) -> CrmSettings:
    """The CRM's look-alike, with the credentials and field ids it accepts, and these rules."""
    return CrmSettings(
        kind=kind,
        base_url=fakes.url(kind),
        zendesk=ZendeskSettings(
            email="agent@example.test",
            api_token="local-zendesk-token",
            end_user_field_id=360001,
            leaf_queue_field_id=360002,
        ),
        salesforce=SalesforceSettings(
            client_id="local-client", client_secret="local-salesforce-secret"
        ),
        freshdesk=FreshdeskSettings(
            api_key="local-freshdesk-key", index_lag_seconds=index_lag_seconds
        ),
        kustomer=KustomerSettings(api_key="local-kustomer-key"),
        **rules,
    )


def crm_deps(
    project: str,
    fakes: lookalikes.Running,
    kind: CrmKind,
    *,
    budget: RateBudget | None = None,
    wall_clock: Callable[[], datetime] | None = None,
    claim_lease_seconds: int = 120,
    observe_usage: bool = True,
    **rules: Any,
) -> CrmDeps:
    """``CrmDeps`` as the CRM function builds them, on collections no other test uses."""
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        project_id=project,
        sessions_collection=f"sessions_{run}",
        quarantine_collection=f"quarantine_{run}",
        crm_collection=f"crm_{run}",
        crm_records_collection=f"crm_records_{run}",
        crm_dead_letters_collection=f"crm_dead_{run}",
        claim_lease_seconds=claim_lease_seconds,
        webhook_url="",
        crm=crm_settings(kind, fakes, **rules),
    )
    db = firestore_client(project)
    client = crm_client(
        settings.crm,
        timeout=10,
        before_request=budget.acquire if budget else None,
        on_usage=budget.observe if budget and observe_usage else None,
    )
    return CrmDeps(
        settings=settings,
        events=FirestoreEvents(db, sessions=settings.sessions_collection),
        schedule=FirestoreSchedule(db, sessions=settings.sessions_collection),
        records=FirestoreCrmRecords(
            db,
            collection=settings.crm_records_collection,
            dead_letters=settings.crm_dead_letters_collection,
            **({"wall_clock": wall_clock} if wall_clock else {}),
        ),
        deliveries=FirestoreDeliveries(db, collection=settings.crm_collection),
        client=client,
        target=file_target(settings.crm, client),
        budget=budget,
        **({"clock": wall_clock} if wall_clock else {}),
    )


# -- feeding the use case ------------------------------------------------------------------


def ingest(deps: CrmDeps, doc: dict[str, Any]) -> dict[str, str] | None:
    """Store one event as ingest does; return the CRM trigger job it publishes, if any.

    Only the event is stored: the session's finalize schedule (``note_event``) is
    finalize's business, and the CRM use case never reads it.
    """
    event = parse_event(raw(doc))
    deps.events.add_event(event)
    trigger = crm_trigger(event)
    return {"session_id": event.session_id, "trigger": trigger} if trigger else None


def feed(deps: CrmDeps, script: SessionScript) -> list[tuple[str, str]]:
    """The session's events in order, each trigger job run right after its event."""
    outcomes = []
    for doc in script.docs:
        job = ingest(deps, doc)
        if job is not None:
            outcomes.append((job["trigger"], deliver(job, deps)))
    return outcomes


def deliver(
    job: dict[str, Any], deps: CrmDeps, *, attempts: int = 50, backoff: float = 0.05
) -> str:
    """Run a job the way Pub/Sub does: a transient error means "deliver it again later"."""
    for _ in range(attempts - 1):
        try:
            return handle_crm_message(job, deps)
        except TransientError:
            time.sleep(backoff)
    return handle_crm_message(job, deps)


def drain(deps: CrmDeps, now: datetime | None = None, limit: int = 100) -> list[str]:
    """The scheduled tick: parked jobs due by ``now`` go back, each delivered once more."""
    released: list[dict[str, Any]] = []
    drain_parked_jobs(deps.records, released.append, limit=limit, now=now or deps.clock())
    return [deliver(job, deps) for job in released]


def set_lookalike_clock(fakes: lookalikes.Running, offset_seconds: float) -> None:
    """Move the look-alikes' index clock as a test moves its own virtual clock."""
    configure(fakes, clock_offset_s=offset_seconds)


def notice(session_id: str, version: int, metadata: dict[str, Any] | None = None) -> dict:
    """A ``session.finalized`` notice as finalize publishes it."""
    return {
        "session_id": session_id,
        "version": version,
        "bucket": "session-files",
        "metadata_object": f"metadata-{session_id}.json",
        "datastream_object": f"datastream-{session_id}.json",
        "metadata": metadata or {"id": session_id, "version": version},
    }


# -- what the look-alike CRM holds ---------------------------------------------------------


def fake_records(fakes: lookalikes.Running, kind: CrmKind) -> dict[str, dict[str, Any]]:
    """The CRM's records by id, read through the admin endpoint (as an operator would)."""
    held = httpx.get(f"{fakes.root}/_admin/records", params={"crm": kind}, timeout=10).json()
    return held[kind][RECORDS[kind]]


def session_key(kind: CrmKind, record: dict[str, Any]) -> str | None:
    """The external id (``ccaip-{session}``) the record was created under."""
    if kind == "zendesk":
        return record["external_id"]
    if kind == "salesforce":
        return record.get("CCAIP_Session_Id__c")
    if kind == "freshdesk":
        return record["custom_fields"].get("cf_ccaip_session_id")
    return record["attributes"]["externalId"]


def by_session_key(fakes: lookalikes.Running, kind: CrmKind) -> dict[str, list[dict[str, Any]]]:
    """Records grouped by session key: more than one under a key is a duplicate."""
    out: dict[str, list[dict[str, Any]]] = {}
    for record in fake_records(fakes, kind).values():
        out.setdefault(session_key(kind, record), []).append(record)
    return out


def record_id(kind: CrmKind, record: dict[str, Any]) -> str:
    return str(record["Id"] if kind == "salesforce" else record["id"])


def title_of(kind: CrmKind, record: dict[str, Any]) -> str:
    if kind == "salesforce":
        return record["Subject"]
    if kind == "kustomer":
        return record["attributes"]["name"]
    return record["subject"]


def tags_of(fakes: lookalikes.Running, kind: CrmKind, record: dict[str, Any]) -> set[str]:
    """The record's tags by name (Kustomer keeps tag ids; Salesforce Cases have none)."""
    if kind == "salesforce":
        return set()
    if kind == "kustomer":
        held = httpx.get(f"{fakes.root}/_admin/records", params={"crm": kind}, timeout=10).json()
        names = held[kind]["tags"]
        return {names[tag]["name"] for tag in record["attributes"]["tags"]}
    return set(record["tags"])


def admin_of(kind: CrmKind, record: dict[str, Any]) -> str | None:
    """The CRM user the record was given to (the admin user, or the agent's CRM user)."""
    if kind == "zendesk":
        value = record.get("assignee_id")
    elif kind == "salesforce":
        value = record.get("OwnerId")
    elif kind == "freshdesk":
        value = record.get("responder_id")
    else:
        value = (record["attributes"].get("assignedUsers") or [None])[0]
    return None if value is None else str(value)


def status_of(kind: CrmKind, record: dict[str, Any]) -> Any:
    if kind == "salesforce":
        return record["Status"]
    if kind == "kustomer":
        return record["attributes"]["status"]
    return record["status"]


def close_record(fakes: lookalikes.Running, kind: CrmKind, record: str, days_ago: float) -> None:
    """An agent closed (solved) the record ``days_ago`` days ago: reopenable, not locked."""
    at = time.time() - days_ago * 86_400
    iso = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    changes = {
        "zendesk": {"status": "solved", "updated_at": iso},
        "salesforce": {"Status": "Closed", "IsClosed": True, "ClosedDate": lookalikes.sf_time(at)},
        "freshdesk": {"status": 5, "updated_at": iso},
        "kustomer": {"attributes": {"status": "done", "updatedAt": iso}},
    }[kind]
    response = httpx.patch(
        f"{fakes.root}/_admin/records/{kind}/{RECORDS[kind]}/{record}", json=changes, timeout=10
    )
    response.raise_for_status()


def stats(fakes: lookalikes.Running, kind: CrmKind) -> dict[str, Any]:
    return httpx.get(f"{fakes.root}/_admin/stats", timeout=10).json()[kind]


def configure(fakes: lookalikes.Running, **limits: float) -> None:
    """Set the look-alikes' limits (``per_minute``, ``per_day``, ``search_lag_ms``)."""
    httpx.post(f"{fakes.root}/_admin/config", json=limits, timeout=10).raise_for_status()


def fail_next(fakes: lookalikes.Running, kind: CrmKind, status: int, count: int = 1) -> None:
    """The CRM's next ``count`` API calls answer ``status``."""
    fault = {"crm": kind, "status": status, "count": count}
    httpx.post(f"{fakes.root}/_admin/fail", json=fault, timeout=10).raise_for_status()


def keys(session_ids: Iterable[str]) -> set[str]:
    return {f"ccaip-{session_id}" for session_id in session_ids}


def files_on(fakes: lookalikes.Running, kind: CrmKind, record: str) -> list[tuple[str, str]]:
    """(file name, content digest) of every file on the record, oldest first.

    The digest is the look-alike's: MD5 for Salesforce (``Checksum``), SHA-256 for the others.
    """
    held = httpx.get(f"{fakes.root}/_admin/records", params={"crm": kind}, timeout=10).json()[kind]
    if kind == "zendesk":
        comments = held["tickets"][record]["comments"]
        return [(a["file_name"], a["sha256"]) for c in comments for a in c["attachments"]]
    if kind == "salesforce":
        versions = held["content_versions"].values()
        documents = {
            v["ContentDocumentId"] for v in versions if v["FirstPublishLocationId"] == record
        }
        mine = [v for v in versions if v["ContentDocumentId"] in documents]
        mine.sort(key=lambda v: (v["ContentDocumentId"], int(v["VersionNumber"])))
        return [(v["PathOnClient"], v["Checksum"]) for v in mine]
    if kind == "freshdesk":
        notes = [n for n in held["notes"].values() if str(n["ticket_id"]) == record]
        return [(a["name"], a["sha256"]) for n in notes for a in n["attachments"]]
    notes = [
        n
        for n in held["notes"].values()
        if n["relationships"]["conversation"]["data"]["id"] == record
    ]
    attachments = held["attachments"]
    return [
        (attachments[a["_id"]]["attributes"]["name"], attachments[a["_id"]]["attributes"]["sha256"])
        for n in notes
        for a in n["attributes"]["attachments"]
    ]
