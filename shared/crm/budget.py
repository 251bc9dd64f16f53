"""A per-CRM call budget: at most N calls a minute from this instance, evenly spaced.

Workers wait for their slot instead of failing, so a backlog drains at the
CRM's pace rather than hammering it into 429s. The budget is per instance:
deploy the CRM function with one instance (or divide the budget by the
maximum instance count) and let its request concurrency bound the waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

SLOW_BELOW = 0.1  # under a tenth of the CRM's window left, the budget spreads what remains


class RateBudget:
    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0
        self._blocked_until = 0.0
        self._slow_interval = 0.0  # spacing the CRM's own usage figures ask for, if wider
        self._slow_until = 0.0

    def acquire(self) -> float:
        """Wait for the next slot; return the seconds waited."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next, self._blocked_until)
            interval = self._interval
            if slot < self._slow_until:
                interval = max(interval, self._slow_interval)
            self._next = slot + interval
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def block_for(self, seconds: float) -> None:
        """The CRM said "not now": no slot before ``seconds`` from now."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def observe(self, remaining: int, limit: int, reset_seconds: float) -> None:
        """The CRM's usage headers: slow down before its limit, not after.

        Below ``SLOW_BELOW`` of the limit, the remaining calls are spread evenly over
        the time until the window resets; none left: no slot before the reset.
        """
        if limit <= 0 or reset_seconds <= 0:
            return
        with self._lock:
            now = self._clock()
            if remaining <= 0:
                self._blocked_until = max(self._blocked_until, now + reset_seconds)
            elif remaining < limit * SLOW_BELOW:
                self._slow_interval = reset_seconds / remaining
                self._slow_until = now + reset_seconds
            elif now >= self._slow_until or remaining >= limit * SLOW_BELOW:
                self._slow_interval = 0.0
