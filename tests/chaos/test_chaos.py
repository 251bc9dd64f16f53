"""The chaos run in small: crashes, races, outages and floods, checked against replay.

About 200 sessions (``CHAOS_SESSIONS`` changes it), every fault of the full run once:
ingest SIGKILLed mid-stream, bursts of ticks with a finalizer SIGKILLed mid-tick, every
(dependency, mode) pair of the fault proxy, CRM error answers, two finalizers and two CRM
workers racing with skewed clocks, a finalizer cut off Cloud Storage past its claim. The oracle is ``replay`` of the clean log; the test
fails on anything lost, wrong or duplicated and prints the run's table. ``make chaos``
runs the same scenario at full size.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from devstack.chaos.__main__ import render
from devstack.chaos.plan import DEPENDENCIES, MODES, ChaosConfig
from devstack.chaos.runner import run_chaos

pytestmark = [pytest.mark.e2e, pytest.mark.chaos, pytest.mark.timeout(3600)]


def test_small_chaos_run_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    config = ChaosConfig(
        sessions=int(os.environ.get("CHAOS_SESSIONS", "200")),
        seed=int(os.environ.get("CHAOS_SEED", "7")),
    )
    report = run_chaos(config, tmp_path / "chaos")
    table = render(report)
    print(table)

    fired = Counter(f["kind"] for f in report.faults)
    pairs = {(f["target"], f["mode"]) for f in report.faults if f["kind"] == "proxy"}
    assert {(d, m) for d in DEPENDENCIES for m in MODES} <= pairs, table
    assert fired["kill_ingest"] >= 2 and fired["tick_burst"] >= 1, table
    assert fired["stale_finalizer"] == 1, table
    assert {f["target"] for f in report.faults if f["kind"] == "crm_status"} == {
        "429",
        "500",
        "503",
    }
    assert report.instances["ingest-0"]["kills"] >= 2, table
    assert report.verdict["sessions_expected"] > 0.7 * config.sessions, table
    assert report.verdict["records_expected"] > 0, table
    assert report.verdict["failures"] == {}, table
    assert report.figures["settled"], table
