"""Contract of the ``finalize`` function: a tick is acknowledged once its run is recorded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared import bootstrap
from tests.unit.functions.conftest import deliver


@pytest.fixture
def ports(fake_ports: dict, monkeypatch: pytest.MonkeyPatch) -> dict:
    drained: list[bool] = []
    monkeypatch.setattr(bootstrap, "drain_crm_jobs", lambda: drained.append(True) or {})
    return {**fake_ports, "drained": drained}


def test_a_scheduler_tick_hands_the_due_sessions_out_and_records_it(client, ports):
    assert deliver(client("finalize"), "finalize_tick").status_code == 200
    record = ports["ticks"].tick_record("2001")
    assert record is not None and (record["jobs"], record["sessions"]) == (0, 0)
    assert ports["drained"] == [True]  # then the parked CRM jobs due by now go back


def test_a_carried_now_is_honoured_where_allowed(client, ports, monkeypatch):
    monkeypatch.setenv("ALLOW_TICK_NOW", "true")
    assert deliver(client("finalize"), "finalize_tick_with_now").status_code == 200
    assert ports["ticks"].tick_record("2002")["now"] == datetime(2023, 9, 11, 7, tzinfo=UTC)


def test_a_tick_with_an_unreadable_now_is_acknowledged_and_runs_nothing(client, ports, monkeypatch):
    monkeypatch.setenv("ALLOW_TICK_NOW", "true")
    assert deliver(client("finalize"), "finalize_tick_bad_now").status_code == 200
    assert ports["ticks"].records == {}


def test_a_failing_store_answers_500_so_that_the_tick_is_retried(client, ports):
    ports["schedule"].fail_next("due_sessions", ConnectionError("firestore unavailable"))
    assert deliver(client("finalize"), "finalize_tick").status_code == 500
    assert ports["ticks"].records == {} and ports["drained"] == []
