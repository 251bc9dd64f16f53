"""Contract of the ``crm`` function: malformed jobs are acknowledged, a failing store is retried."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared import bootstrap
from shared.config import Settings
from shared.crm.settings import CrmSettings
from shared.service.crm import CrmDeps
from tests.fakes import FakeCrmRecords, FakeDeliveries, FakeEvents, FakeSchedule
from tests.unit.functions.conftest import deliver


class NoCalls:
    """A CRM client that fails the test if the function reaches the CRM at all."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the CRM was called ({name}) for a job that must not reach it")


@pytest.fixture
def deps(monkeypatch: pytest.MonkeyPatch) -> CrmDeps:
    clock = lambda: datetime(2023, 9, 11, 7, tzinfo=UTC)  # noqa: E731
    built = CrmDeps(
        settings=Settings(crm=CrmSettings(kind="zendesk", base_url="https://crm.example")),
        events=FakeEvents(),
        schedule=FakeSchedule(),
        records=FakeCrmRecords(clock),
        deliveries=FakeDeliveries(),
        client=NoCalls(),  # type: ignore[arg-type]
        clock=clock,
    )
    monkeypatch.setattr(bootstrap, "crm_deps", lambda: built)
    return built


@pytest.mark.parametrize("event", ["crm_not_json", "crm_unknown_trigger"])
def test_a_malformed_job_is_acknowledged_once_and_parks_nothing(client, deps, event):
    assert deliver(client("crm"), event).status_code == 200
    assert deps.records.parked_stats().count == 0
    assert deps.records.dead_letters() == []


def test_a_failing_event_store_answers_500_so_that_the_job_is_retried(client, deps):
    deps.events.fail_next("load_events", ConnectionError("firestore unavailable"))
    assert deliver(client("crm"), "crm_trigger_assigned").status_code == 500
    assert deps.records.parked_stats().count == 0
