"""The CRM call budget spaces calls evenly and honours "not now"."""

from __future__ import annotations

import threading

import pytest

from shared.crm.budget import WINDOW, WINDOW_MARGIN, RateBudget


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


class SlidingMinute:
    """A CRM's per-minute limit as the look-alikes (and Zendesk) count it: a sliding 60 s."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.calls: list[float] = []
        self.refused = 0

    def in_window(self, at: float) -> int:
        return sum(1 for call in self.calls if call > at - 60)

    def admit(self, at: float) -> bool:
        if self.in_window(at) >= self.limit:
            self.refused += 1
            return False
        self.calls.append(at)
        return True

    def remaining(self, at: float) -> int:
        return max(0, self.limit - self.in_window(at))


def run_paced(budget: RateBudget, t: FakeTime, crm: SlidingMinute, calls: int, **opts) -> None:
    """One caller: each call waits for its slot, reaches the CRM ``delays[n]`` later."""
    delays = opts.get("delays", [0.0])
    read_headers = opts.get("read_headers", True)
    for n in range(calls):
        budget.acquire()
        at = t.now + delays[n % len(delays)]
        crm.admit(at)
        if read_headers:
            budget.observe(crm.remaining(at), crm.limit, 60.0)


def test_our_own_calls_filling_the_crms_window_do_not_slow_the_budget():
    """The window nearly full of our own calls is the budget at work, not a warning.

    The old budget read "remaining < a tenth" as its cue to spread the rest over a
    minute: 800 calls took far longer than the 120 s the limit allows.
    """
    t = FakeTime()
    budget = RateBudget(400, clock=t.clock, sleep=t.sleep)
    crm = SlidingMinute(400)
    run_paced(budget, t, crm, 800)
    assert crm.refused == 0
    assert t.now <= 800 * 0.15 + 2 * WINDOW_MARGIN


def test_no_window_ever_holds_more_than_the_allowance_however_late_calls_arrive():
    """Calls reach the CRM a little late, some later than others: never a 401st in a minute.

    Spaced at exactly the limit with nothing to spare, a call that travelled faster
    than the one 400 slots before it found that one still in the CRM's window.
    """
    t = FakeTime()
    budget = RateBudget(400, clock=t.clock, sleep=t.sleep)
    crm = SlidingMinute(400)
    run_paced(budget, t, crm, 1200, delays=[0.05, 0.0, 0.02], read_headers=False)
    assert crm.refused == 0
    assert t.now <= 1200 * 0.15 + 3 * WINDOW_MARGIN


def test_calls_of_other_callers_in_the_crms_window_shrink_our_share():
    t = FakeTime()
    budget = RateBudget(400, clock=t.clock, sleep=lambda s: None)
    assert budget.acquire() == 0.0
    budget.observe(remaining=99, limit=400, reset_seconds=60)  # 301 counted, 1 of them ours
    waits = [budget.acquire() for _ in range(3)]
    assert waits == pytest.approx([0.15, 0.75, 1.35])  # 100 a minute left to us: 0.6 s apart


def test_our_share_fills_its_window_then_waits_for_its_oldest_call_to_leave():
    t = FakeTime()
    budget = RateBudget(400, clock=t.clock, sleep=t.sleep)
    budget.acquire()
    budget.observe(remaining=9, limit=10, reset_seconds=60)  # only ten a minute, all ours
    waits = [budget.acquire() for _ in range(10)]
    assert waits[:9] == pytest.approx([0.15] + [6.0] * 8)
    assert t.now == pytest.approx(WINDOW + WINDOW_MARGIN)  # the first call's slot has left


def test_what_others_used_is_forgotten_once_their_calls_left_the_window():
    t = FakeTime()
    budget = RateBudget(400, clock=t.clock, sleep=lambda s: None)
    budget.acquire()
    budget.observe(remaining=99, limit=400, reset_seconds=60)
    t.now = 100.0  # no header heard for more than a minute
    assert [budget.acquire() for _ in range(3)] == pytest.approx([0.0, 0.15, 0.3])


def test_a_crm_limit_below_our_allowance_sets_the_pace():
    t = FakeTime()
    budget = RateBudget(800, clock=t.clock, sleep=lambda s: None)
    budget.acquire()
    budget.observe(remaining=199, limit=200, reset_seconds=60)  # a budget set twice too high
    assert [budget.acquire() for _ in range(3)] == pytest.approx([0.075, 0.375, 0.675])


def test_others_holding_the_whole_window_block_until_the_reset():
    t = FakeTime()
    budget = RateBudget(400, clock=t.clock, sleep=lambda s: None)
    budget.observe(remaining=0, limit=400, reset_seconds=30)  # none of the 400 is ours
    assert budget.acquire() == 30


def test_a_daily_allocation_nearly_spent_spreads_what_is_left_until_the_reset():
    t = FakeTime()
    budget = RateBudget(400, clock=t.clock, sleep=lambda s: None)
    budget.acquire()
    budget.observe(remaining=100, limit=15_000, reset_seconds=86_400)  # under a tenth
    assert budget.acquire() == pytest.approx(0.15)
    assert budget.acquire() == pytest.approx(0.15 + 864)
    budget.observe(remaining=0, limit=15_000, reset_seconds=86_400)
    assert budget.acquire() == pytest.approx(86_400)
