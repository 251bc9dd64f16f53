"""CRM look-ups cached so that a burst of workers missing one key costs one CRM call."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.adapters.crm.base import FetchedOnce


def test_workers_missing_the_same_key_at_once_fetch_it_once():
    cache: FetchedOnce[str, int] = FetchedOnce()
    release = threading.Event()
    fetches = []

    def fetch() -> int:
        fetches.append(1)
        release.wait(5)  # the CRM answers slowly: every worker has missed by then
        return 7001

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = [pool.submit(cache.get, "noam@example.test", fetch) for _ in range(16)]
        release.set()
        assert [a.result(timeout=10) for a in answers] == [7001] * 16
    assert len(fetches) == 1


def test_each_key_is_fetched_on_its_own_and_misses_are_kept_too():
    cache: FetchedOnce[str, int | None] = FetchedOnce()
    calls: list[str] = []

    def fetch(key: str) -> int | None:
        calls.append(key)
        return None if key == "gone" else len(key)

    for key in ("a", "bb", "gone", "a", "gone"):
        cache.get(key, lambda key=key: fetch(key))
    assert calls == ["a", "bb", "gone"]


def test_a_failed_fetch_leaves_the_key_to_the_next_caller():
    cache: FetchedOnce[str, int] = FetchedOnce()

    def unavailable() -> int:
        raise TimeoutError("the CRM did not answer")

    with pytest.raises(TimeoutError):
        cache.get("k", unavailable)
    assert cache.get("k", lambda: 3) == 3
