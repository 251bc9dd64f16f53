"""The bench suite at toy sizes (seconds), in ``make test``: keeps the harness from rotting.

It checks that every figure is measured and has the report's shape, plus floors
far below any real result; the figures themselves come from ``make bench``.
"""

from __future__ import annotations

import pytest

from tests.benchmarks import figures
from tests.benchmarks.test_bench import check_shape

pytestmark = pytest.mark.emulators


@pytest.mark.timeout(600)
def test_every_figure_is_measured_at_toy_sizes(emulators):
    report = figures.run_all(emulators.project, figures.SMOKE, fakes=None)
    report |= {"P7": figures.figure(1.0, "measured by make bench only")}
    print("\n" + figures.table(report))
    check_shape(report)
    assert report["P1"]["value"] > 0.02
    assert 0.9 <= report["P2"]["writes_per_event"] < 3
    assert report["P3"]["value"] == 0 and report["P3"]["all_stored"]
    assert report["P4"]["written"] == [figures.SMOKE.p4_due, figures.SMOKE.p4_due]
    assert report["P5"]["drain_large"][2] == figures.SMOKE.drain_large
    assert report["P6"]["value"] < 3
    assert report["cost"]["value"] > 0
