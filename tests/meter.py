"""A thread-safe tally of the work the Firestore adapters report (writes, transactions).

Benchmarks ingest from 32 threads at once: a plain ``+=`` on a shared int would
lose counts there, so every increment takes the lock.
"""

from __future__ import annotations

import threading
from collections import Counter


class WorkCounts:
    """A ``Meter`` for the adapters: ``counts.writes`` and friends, read at any time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    @property
    def writes(self) -> int:
        return self["writes"]

    @property
    def transactions(self) -> int:
        return self["transactions"]

    @property
    def transaction_attempts(self) -> int:
        return self["transaction_attempts"]
