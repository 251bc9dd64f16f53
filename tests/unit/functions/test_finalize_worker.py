"""Contract of the ``finalize_worker`` function: a job is acknowledged once its report is kept."""

from __future__ import annotations

import pytest

from shared import bootstrap
from shared.config import Settings
from shared.domain.files import metadata_name
from shared.ports import PubsubMessage
from shared.service.ingest import ingest_message
from tests.factory import handled_call, raw
from tests.fakes import (
    FakeQuarantine,
)
from tests.unit.functions.conftest import deliver

SESSION = "s-worker-1"  # the session tests/events/finalize_job.json names


@pytest.fixture
def ports(fake_ports: dict, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setattr(bootstrap, "crm_records", lambda: NoRecords())
    return fake_ports


class NoRecords:
    def get(self, session_id: str) -> object:
        return type("Record", (), {"ticket": (None, None)})()


def store(ports: dict, session_id: str) -> None:
    for n, doc in enumerate(handled_call(session_id).docs):
        ingest_message(
            PubsubMessage(raw(doc), f"m{n}"),
            events=ports["events"],
            schedule=ports["schedule"],
            quarantine=FakeQuarantine(),
            settings=Settings(),
        )


def test_a_job_writes_its_due_session_and_reports_to_the_ticks_book(client, ports):
    store(ports, SESSION)
    assert deliver(client("finalize_worker"), "finalize_job").status_code == 200
    assert ports["ticks"].records["3001/jobs"][0]["written"] == [SESSION]
    metadata = ports["files"].json(metadata_name(Settings().object_prefix, SESSION))
    assert metadata["version"] == 1 and metadata["event_count"] == len(handled_call().docs)


def test_a_job_delivered_twice_writes_one_version(client, ports):
    store(ports, SESSION)
    worker = client("finalize_worker")
    assert deliver(worker, "finalize_job").status_code == 200
    assert deliver(worker, "finalize_job").status_code == 200
    assert len(ports["publisher"].on(Settings().finalized_topic)) == 1


def test_a_malformed_job_is_acknowledged_and_writes_nothing(client, ports, caplog):
    assert deliver(client("finalize_worker"), "finalize_job_malformed").status_code == 200
    assert ports["files"].objects == {} and ports["ticks"].records == {}
    said = [r.levelname for r in caplog.records if "finalize job is malformed" in r.getMessage()]
    assert said == ["ERROR"]


def test_a_job_whose_report_cannot_be_kept_answers_500_so_that_it_is_retried(client, ports):
    store(ports, SESSION)
    ports["ticks"].record_job = failing
    assert deliver(client("finalize_worker"), "finalize_job").status_code == 500


def failing(*args: object, **kwargs: object) -> None:
    raise ConnectionError("firestore unavailable")
