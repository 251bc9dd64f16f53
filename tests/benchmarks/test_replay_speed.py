"""Benchmark: ``sessionctl replay`` throughput on simulated traffic, held to a same-run baseline.

The baseline is the cheapest thing replay must do anyway: validating every line
(``parse_event``), timed on the same lines in the same run, so the bound follows
the machine's speed instead of a number written down on another machine. Replay
also reduces, renders and writes every session's files; it took about 4x the
baseline when this was written. The floor is generous (12x): it fails on a real
regression (a quadratic step, a second validation of every event), not on noise.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime

import pytest

from devstack.simulate import simulate_traffic, to_jsonl
from sessionctl.cli import main
from shared.domain.errors import BadInput
from shared.domain.events import parse_event

pytestmark = pytest.mark.benchmark
MAX_RATIO = 12.0  # replay time / validation time of the same lines


def _validation_seconds(lines: list[bytes]) -> float:
    started = time.perf_counter()
    for line in lines:
        with contextlib.suppress(BadInput):
            parse_event(line)
    return time.perf_counter() - started


def test_replay_throughput(tmp_path, capsys):
    traffic = simulate_traffic(seed=1, now=datetime.now(UTC), sessions=3000)
    source = tmp_path / "traffic.jsonl"
    source.write_text(to_jsonl(traffic), encoding="utf-8")
    baseline = _validation_seconds(source.read_bytes().splitlines())
    started = time.perf_counter()
    assert main(["replay", str(source), "--out", str(tmp_path / "out")]) == 0
    elapsed = time.perf_counter() - started
    files = len(list((tmp_path / "out").iterdir()))
    capsys.readouterr()
    ratio = elapsed / baseline
    with capsys.disabled():
        print(
            f"\nreplay: {len(traffic.lines)} lines, {len(traffic.sessions)} sessions -> "
            f"{files} files in {elapsed:.2f} s ({len(traffic.lines) / elapsed:,.0f} lines/s); "
            f"validation alone {baseline:.2f} s; ratio {ratio:.1f} (at most {MAX_RATIO:.0f})"
        )
    assert files > 0
    assert ratio <= MAX_RATIO, f"replay took {ratio:.1f}x the validation of the same lines"
