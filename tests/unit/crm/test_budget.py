"""The CRM call budget spaces calls evenly and honours "not now"."""

from __future__ import annotations

import threading

import pytest

from shared.crm.budget import RateBudget


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_calls_are_spaced_at_the_budget():
    t = FakeTime()
    budget = RateBudget(400, clock=t.clock, sleep=lambda s: None)
    waits = [budget.acquire() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.15, 0.3, 0.45, 0.6])


def test_a_throttle_answer_blocks_every_slot_until_it_passes():
    t = FakeTime()
    budget = RateBudget(600, clock=t.clock, sleep=lambda s: None)
    budget.acquire()
    budget.block_for(30)
    assert budget.acquire() == 30
    assert budget.acquire() == pytest.approx(30.1)


def test_no_budget_means_no_wait():
    budget = RateBudget(0)
    assert [budget.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
