"""A per-CRM call budget: at most N calls in any minute from this instance, evenly spaced.

Workers wait for their slot instead of failing, so a backlog drains at the
CRM's pace rather than hammering it into 429s. The budget is per instance:
deploy the CRM function with one instance (or divide the budget by the
maximum instance count) and let its request concurrency bound the waiting.

The CRMs count calls over a sliding minute (Zendesk, Freshdesk, Kustomer). A budget
that uses its whole allowance therefore keeps the CRM's window nearly full, and the
usage headers' "remaining" sits near zero by design: that is our own pacing, not a
warning. So the budget keeps a log of its own slots, never lets more than the
allowance into any window (with a margin for request latency), and reads the usage
headers as "how many calls in the CRM's window are someone else's": only those
shrink its share. A CRM whose usage window is longer than a minute (Salesforce's
24 h allocation) is paced by its headers as before: below ``SLOW_BELOW`` of the
limit the rest is spread until the reset.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW = 60.0  # the CRMs' per-minute limits count calls over a sliding minute
# A call reaches the CRM a little after its slot; the CRM dates it then. Our log keeps a
# slot this much longer than the CRM's window, so that an earlier call which travelled
# slower is never still counted by the CRM when our log has let it go.
WINDOW_MARGIN = 1.0
SLOW_BELOW = 0.1  # a long (daily) window under a tenth left: the budget spreads what remains


class RateBudget:
    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._per_minute = max(0, per_minute)  # 0: no allowance of ours (the CRM's may hold)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._slots: deque[float] = deque()  # ours within the last window (and margin), in order
        self._next = 0.0
        self._blocked_until = 0.0
        self._crm_limit = 0  # the CRM's per-minute limit, as its headers say (0: not heard)
        self._others = 0  # calls in the CRM's window that are not ours, last heard
        self._others_until = 0.0  # by then every call that figure counted has left the window
        self._slow_interval = 0.0  # spacing a long window's usage figures ask for, if wider
        self._slow_until = 0.0

    def acquire(self) -> float:
        """Wait for the next slot; return the seconds waited."""
        with self._lock:
            now = self._clock()
            slot = self._reserve(now)
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def _reserve(self, now: float) -> float:
        """The earliest slot that keeps the spacing, the window and any block; taken."""
        while self._slots and self._slots[0] <= now - WINDOW - WINDOW_MARGIN:
            self._slots.popleft()
        share = self._share(now)
        slot = max(now, self._next, self._blocked_until, self._window_frees(share))
        interval = WINDOW / share if share else 0.0
        if slot < self._slow_until:
            interval = max(interval, self._slow_interval)
        self._next = slot + interval
        self._slots.append(slot)
        return slot

    def _share(self, now: float) -> int | None:
        """Calls we may make in a window: our allowance, and no more than others leave us
        of the CRM's limit; ``None``: neither is known, no limit."""
        shares = [self._per_minute] if self._per_minute else []
        if self._crm_limit:
            others = self._others if now < self._others_until else 0
            shares.append(max(1, self._crm_limit - others))
        return min(shares) if shares else None

    def _window_frees(self, share: int | None) -> float:
        """When our window has room for one more call: the ``share``-th last slot has left."""
        if share is None or len(self._slots) < share:
            return 0.0
        return self._slots[-share] + WINDOW + WINDOW_MARGIN

    def _ours_in_window(self, now: float) -> int:
        """Our slots the CRM's window holds now (reserved future slots not yet)."""
        return sum(1 for slot in self._slots if now - WINDOW < slot <= now)

    def block_for(self, seconds: float) -> None:
        """The CRM said "not now": no slot before ``seconds`` from now."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def observe(self, remaining: int, limit: int, reset_seconds: float) -> None:
        """The CRM's usage headers: share its window with its other callers, stay under it.

        A per-minute window: the calls it counts beyond our own are someone else's;
        our share is what they leave (none left: no slot before the reset). A longer
        window: see ``_observe_long``.
        """
        if limit <= 0 or reset_seconds <= 0:
            return
        with self._lock:
            now = self._clock()
            if reset_seconds > WINDOW + WINDOW_MARGIN:
                self._observe_long(now, remaining, limit, reset_seconds)
                return
            self._crm_limit = limit
            self._others = max(0, limit - remaining - self._ours_in_window(now))
            self._others_until = now + WINDOW
            if self._others >= limit:
                self._blocked_until = max(self._blocked_until, now + reset_seconds)

    def _observe_long(self, now: float, remaining: int, limit: int, reset_seconds: float) -> None:
        """A daily allocation: below ``SLOW_BELOW`` spread what is left until the reset.

        Our minute log says nothing of a day's usage, so the headers alone decide;
        none left: no slot before the reset.
        """
        if remaining <= 0:
            self._blocked_until = max(self._blocked_until, now + reset_seconds)
        elif remaining < limit * SLOW_BELOW:
            self._slow_interval = reset_seconds / remaining
            self._slow_until = now + reset_seconds
        else:
            self._slow_interval = 0.0
