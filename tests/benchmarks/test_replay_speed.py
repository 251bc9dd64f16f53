"""Benchmark: ``sessionctl replay`` throughput on simulated traffic (prints figures)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from devstack.simulate import simulate_traffic, to_jsonl
from sessionctl.cli import main

pytestmark = pytest.mark.benchmark


def test_replay_throughput(tmp_path, capsys):
    traffic = simulate_traffic(seed=1, now=datetime.now(UTC), sessions=3000)
    source = tmp_path / "traffic.jsonl"
    source.write_text(to_jsonl(traffic), encoding="utf-8")
    started = time.perf_counter()
    assert main(["replay", str(source), "--out", str(tmp_path / "out")]) == 0
    elapsed = time.perf_counter() - started
    files = len(list((tmp_path / "out").iterdir()))
    capsys.readouterr()
    with capsys.disabled():
        print(
            f"\nreplay: {len(traffic.lines)} lines, {len(traffic.sessions)} sessions -> "
            f"{files} files in {elapsed:.2f} s ({len(traffic.lines) / elapsed:,.0f} lines/s)"
        )
    assert files > 0
