"""``make bench``: every figure of the suite in one run, one table, ``bench-report.json``.

Each figure is a ratio (or a count) with its denominator measured in the same run;
see figures.py. Asserted are generous floors only: the table is the result.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.benchmarks import figures
from tests.benchmarks.test_crm_throughput import fakes  # noqa: F401  (the look-alike CRMs)

pytestmark = [pytest.mark.benchmark, pytest.mark.emulators]
REPORT = Path("bench-report.json")


def check_shape(report: dict) -> None:
    for name in figures.ORDER:
        assert isinstance(report[name]["value"], float | int), name
        assert report[name]["target"], name


@pytest.mark.timeout(7200)
def test_the_figures(emulators, fakes):  # noqa: F811
    scale = figures.SCALES[os.environ.get("BENCH_SCALE", "full")]

    def keep(report: dict) -> None:
        REPORT.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")

    only = {n.strip() for n in os.environ.get("BENCH_ONLY", "").split(",") if n.strip()} or None
    report = figures.run_all(emulators.project, scale, fakes, on_figure=keep, only=only)
    print("\n" + figures.table(report) + f"\n(written to {REPORT.resolve()})")
    if only is None:
        check_shape(report)
    floors = {
        "P1": lambda f: f["value"] > 0.1,
        "P2": lambda f: f["writes_per_event"] < 2,
        "P3": lambda f: f["value"] == 0,
        "P4": lambda f: f["value"] < 5,
        "P5": lambda f: f["value"] > 0.01,
        "P6": lambda f: f["value"] < 3,
        "P7": lambda f: f["value"] > 0.5 and f["duplicates"] == 0,
    }
    for name, floor in floors.items():
        if name in report:
            assert floor(report[name]), (name, report[name])
