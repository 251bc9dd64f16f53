"""The CRM use case on in-memory fakes: parking and draining, our own routing index, takeovers.

The CRM here is a fake of the ``CrmClient`` port: it keeps records in a dict and
answers "throttled" or "not searchable yet" when a test says so, so that each rule
of the use case shows without HTTP or emulators.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.config import Settings
from shared.crm import rules
from shared.crm.errors import CrmThrottled
from shared.crm.rules import ExistingRecord, NewRecord, RecordRef
from shared.crm.settings import CrmSettings
from shared.domain.events import parse_event
from shared.domain.session import reduce_session
from shared.service.crm import CrmDeps, drain_parked_jobs, handle_crm_message
from tests.factory import SessionScript, handled_call, raw
from tests.fakes import FakeCrmRecords, FakeDeliveries, FakeEvents, FakeSchedule

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Now:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


class FakeCrm:
    """The ``CrmClient`` port in memory; ``index_lag_seconds`` hides new records from look-ups."""

    name = "fake"

    def __init__(self, clock: Now, index_lag_seconds: float = 0.0) -> None:
        self.clock = clock
        self.index_lag_seconds = index_lag_seconds
        self.records: dict[str, dict[str, Any]] = {}
        self.notes_on: dict[str, list[str]] = {}
        self.throttle_for: float | None = None

    def create_record(self, record: NewRecord, *, follow_up_of: str | None = None) -> RecordRef:
        if self.throttle_for is not None:
            raise CrmThrottled(self.name, "create", self.throttle_for)
        record_id = str(len(self.records) + 1)
        self.records[record_id] = {
            "record": record,
            "open": True,
            "end_user": record.end_user_id,
            "leaf": record.leaf_queue,
            "created_at": self.clock(),
        }
        return RecordRef(record_id, f"https://crm/{record_id}")

    def find_by_external_id(self, external_id: str) -> RecordRef | None:
        for record_id, held in self.records.items():
            searchable = held["created_at"] + timedelta(seconds=self.index_lag_seconds)
            if held["record"].external_id == external_id and searchable <= self.clock():
                return RecordRef(record_id, f"https://crm/{record_id}")
        return None

    def complete(self, record_id: str, record: NewRecord) -> None:
        pass

    def get_record(self, record_id: str) -> ExistingRecord | None:
        held = self.records.get(record_id)
        if held is None:
            return None
        return ExistingRecord(
            id=record_id,
            url=f"https://crm/{record_id}",
            is_open=held["open"],
            created_at=held["created_at"],
            end_user_id=held["end_user"],
            leaf_queue=held["leaf"],
        )

    def reopen(self, record_id: str) -> None:
        self.records[record_id]["open"] = True

    def add_note(self, record_id: str, body: str) -> None:
        self.notes_on.setdefault(record_id, []).append(body)

    def notes(self, record_id: str) -> list[str]:
        return self.notes_on.get(record_id, [])

    def attach_file(self, record_id, filename, content, content_type, replaces=None, marker=""):
        return f"{record_id}:{marker}"

    def find_file(self, record_id: str, marker: str) -> str | None:
        return None

    def close(self) -> None:
        pass


def deps_for(crm: FakeCrm, clock: Now, **rules: Any) -> CrmDeps:
    settings = Settings(crm=CrmSettings(kind="zendesk", base_url="https://crm.example", **rules))
    return CrmDeps(
        settings=settings,
        events=FakeEvents(),
        schedule=FakeSchedule(),
        records=FakeCrmRecords(clock),
        deliveries=FakeDeliveries(),
        client=crm,
        target=crm,
        clock=clock,
    )


def store(deps: CrmDeps, script: SessionScript) -> dict[str, str]:
    for doc in script.docs:
        deps.events.add_event(parse_event(raw(doc)))
    return {"session_id": script.session_id, "trigger": "assigned"}


def drain(deps: CrmDeps) -> list[str]:
    released: list[dict[str, Any]] = []
    drain_parked_jobs(deps.records, released.append, limit=10, now=deps.clock())
    return [handle_crm_message(job, deps) for job in released]


def test_a_throttled_job_is_parked_until_the_crm_accepts_and_then_created_once():
    clock = Now()
    crm = FakeCrm(clock)
    deps = deps_for(crm, clock)
    job = store(deps, handled_call("s1"))
    crm.throttle_for = 600  # a 10-minute 429: longer than a delivery waits
    assert handle_crm_message(job, deps) == "parked"
    assert deps.records.parked_stats().count == 1
    clock.advance(300)
    assert drain(deps) == []  # not yet
    assert deps.records.parked_stats().oldest_age_seconds == 300
    crm.throttle_for = None
    clock.advance(301)
    assert drain(deps) == ["created"]
    assert len(crm.records) == 1 and deps.records.dead_letters() == []
    assert deps.records.parked_stats().count == 0


def test_the_routing_index_decides_and_the_records_own_end_user_is_checked():
    clock = Now()
    crm = FakeCrm(clock)
    deps = deps_for(crm, clock, attach_to_open_record_same_leaf_queue=True)
    first = store(deps, handled_call("s1"))
    second = store(deps, handled_call("s2"))
    assert handle_crm_message(first, deps) == "created"
    assert handle_crm_message(second, deps) == "created"
    assert len(crm.records) == 1  # the second call joined the first call's record
    assert deps.records.get("s2").record_id == "1"
    assert sum("[ccaip-s2]" in note for note in crm.notes("1")) == 1
    # The record now says another end user (an agent changed it): it takes no session.
    crm.records["1"]["end_user"] = "someone-else"
    third = store(deps, handled_call("s3"))
    assert handle_crm_message(third, deps) == "created"
    assert deps.records.get("s3").record_id == "2"


def test_a_takeover_without_idempotency_waits_out_the_index_lag_before_creating():
    clock = Now()
    crm = FakeCrm(clock, index_lag_seconds=300)
    deps = deps_for(crm, clock)
    job = store(deps, handled_call("s1"))
    # A worker claimed, sent the create, and died before storing the answer.
    deps.records.claim("s1", lease=deps.settings.claim_lease)
    deps.records.creating("s1")
    state = reduce_session("s1", deps.events.load_events("s1"))
    crm.create_record(rules.build_record(state, deps.settings.crm, deps.settings.zone))
    clock.advance(deps.settings.claim_lease_seconds + 1)
    assert handle_crm_message(job, deps) == "parked"  # a miss now would prove nothing
    clock.advance(300)
    assert drain(deps) == ["created"]
    assert len(crm.records) == 1
    assert deps.records.get("s1").record_id == "1"


def test_a_malformed_job_is_acknowledged_and_no_crm_call_is_made():
    clock = Now()
    crm = FakeCrm(clock)
    deps = deps_for(crm, clock)
    assert handle_crm_message({"trigger": "assigned"}, deps) == "malformed"
    assert handle_crm_message({"session_id": "s1", "version": 0}, deps) == "malformed"
    assert crm.records == {} and deps.records.dead_letters() == []
