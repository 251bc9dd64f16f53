"""``wait_ingested`` waits while ingest makes progress, and only then gives up."""

from __future__ import annotations

import time

import pytest

from sessionctl import feed
from sessionctl.feed import Published, wait_ingested


class _GrowingStore:
    """Stores one more event every ``step`` seconds, up to ``limit`` events."""

    def __init__(self, step: float, limit: int | None = None) -> None:
        self.start = time.monotonic()
        self.step = step
        self.limit = limit

    def _count(self) -> int:
        count = int((time.monotonic() - self.start) / self.step)
        return count if self.limit is None else min(count, self.limit)

    def stored(self, keys: list[tuple[str, str]]) -> int:
        order = [f"e{n:04d}" for n in range(self._count())]
        return sum(1 for _, event_id in keys if event_id in order)

    def quarantined(self, message_ids: list[str]) -> int:
        return len(message_ids)


def _published(n: int) -> Published:
    return Published(events=[("s", f"e{i:04d}") for i in range(n)], rejected=["m1"], count=n + 1)


def test_waits_past_the_timeout_while_events_keep_arriving() -> None:
    seen: list[tuple[int, int]] = []
    started = time.monotonic()
    stored, kept = wait_ingested(
        _GrowingStore(step=0.15),
        _published(12),
        timeout=0.6,
        progress=lambda done, total: seen.append((done, total)),
    )
    took = time.monotonic() - started
    assert (stored, kept) == (12, 1)
    assert took > 1.5  # far longer than the timeout: progress kept it waiting
    assert seen and all(total == 13 for _, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert seen[-1] == (13, 13)


def test_gives_up_once_nothing_moves_for_the_timeout() -> None:
    with pytest.raises(TimeoutError, match=r"no progress for 1 s: 3/12 events stored"):
        wait_ingested(_GrowingStore(step=0.05, limit=3), _published(12), timeout=0.6)


def test_default_patience_covers_the_retry_policy_maximum_backoff() -> None:
    from devstack.local_stack import retry_policy

    assert feed.stall_timeout() > retry_policy()["maximum_backoff"]["seconds"]


def test_tick_says_settled_or_what_is_held_until_when() -> None:
    from datetime import UTC, datetime, timedelta

    from sessionctl.commands.feed import describe_backlog
    from shared.adapters.firestore_schedule import Backlog

    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert describe_backlog(Backlog(due=0, held=())) == "settled: nothing else is due"
    assert (
        describe_backlog(Backlog(due=3, held=()))
        == "still due: 3 sessions, 3 free for the next tick"
    )
    held = (("s1", at), ("s2", at + timedelta(seconds=90)))
    assert describe_backlog(Backlog(due=3, held=held)) == (
        "still due: 3 sessions, 1 free for the next tick; 2 held by a live claim until "
        "2026-11-30T12:00:00+00:00 .. 2026-11-30T12:01:30+00:00"
    )
