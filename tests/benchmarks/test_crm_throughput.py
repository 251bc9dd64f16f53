"""Benchmark (``make bench``): a burst of sessions against a CRM that allows 400 calls a minute.

Every session's events are stored first (a minimal answered call); then 16 worker
threads, standing for the CRM function's request concurrency on one instance, take
the ``assigned`` trigger jobs from a queue and run them through the use case with a
``RateBudget`` of 400 a minute, putting a job back when it raises a transient error,
as Pub/Sub would redeliver it. Asserted: every session has its record, none twice,
and the burst took at most 10% longer than the CRM's limit allows for the calls made.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from devstack import lookalikes
from shared.crm.budget import RateBudget
from shared.domain.errors import TransientError
from shared.service.crm import CrmDeps, handle_crm_message
from tests.factory import T0, SessionScript
from tests.integration.crm_helpers import by_session_key, crm_deps, ingest, stats
from tests.integration.helpers import unique

pytestmark = [pytest.mark.benchmark, pytest.mark.emulators]

PER_MINUTE = 400
WORKERS = 16
AGENT = {"id": "a1", "name": "Noam B"}


@pytest.fixture
def fakes() -> Iterator[lookalikes.Running]:
    running = lookalikes.start(per_minute=PER_MINUTE)
    yield running
    running.stop()


def minimal_answered_call(session_id: str) -> SessionScript:
    s = SessionScript(session_id=session_id, start=T0)
    s.at(0).add("session.created", {"session_type": "Voice inbound", "end_user": {"id": "u1"}})
    s.at(20).status("assigned", 2, agent=AGENT)
    s.at(25).status("connected", 5)
    return s


@dataclass
class Burst:
    sessions: int
    records: int
    duplicates: int
    missing: int
    calls: int  # CRM calls the CRM accepted (they count against its limit)
    throttled: int  # calls it answered 429 (not counted against the limit)
    redeliveries: int
    outcomes: Counter[str]
    wall: float

    @property
    def ideal(self) -> float:
        """Seconds the CRM's limit needs for the calls made, spaced evenly."""
        return self.calls / PER_MINUTE * 60

    @property
    def ratio(self) -> float:
        return self.wall / self.ideal

    def report(self) -> str:
        return (
            f"\nCRM burst: {self.sessions} sessions, {WORKERS} workers, {PER_MINUTE}/min: "
            f"{self.records} records, {self.duplicates} duplicates, {self.missing} missing; "
            f"{self.calls} CRM calls accepted, {self.throttled} answered 429; "
            f"{self.redeliveries} jobs redelivered; outcomes {dict(self.outcomes)}; "
            f"wall {self.wall:.1f} s, ideal {self.ideal:.1f} s, ratio {self.ratio:.3f}"
        )


def store_sessions(deps: CrmDeps, count: int) -> list[str]:
    ids = [unique("burst") for _ in range(count)]
    docs = [doc for session_id in ids for doc in minimal_answered_call(session_id).docs]
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(lambda doc: ingest(deps, doc), docs))
    return ids


def run_burst(project: str, fakes: lookalikes.Running, count: int) -> Burst:
    deps = crm_deps(project, fakes, "zendesk", budget=RateBudget(PER_MINUTE))
    ids = store_sessions(deps, count)
    before = stats(fakes, "zendesk")
    assert before["requests"] == 0

    jobs: queue.Queue[dict[str, str]] = queue.Queue()
    for session_id in ids:
        jobs.put({"session_id": session_id, "trigger": "assigned"})
    outcomes: Counter[str] = Counter()
    redeliveries = 0
    last_record = 0.0
    lock = threading.Lock()

    def worker() -> None:
        nonlocal redeliveries, last_record
        while True:
            try:
                job = jobs.get_nowait()
            except queue.Empty:
                return
            try:
                outcome = handle_crm_message(job, deps)
            except TransientError:
                with lock:
                    redeliveries += 1
                jobs.put(job)  # Pub/Sub delivers it again
                continue
            with lock:
                outcomes[outcome] += 1
                if outcome == "created":
                    last_record = max(last_record, time.monotonic())

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = last_record - started

    held = by_session_key(fakes, "zendesk")
    after = stats(fakes, "zendesk")
    return Burst(
        sessions=count,
        records=sum(len(found) for found in held.values()),
        duplicates=sum(len(found) - 1 for found in held.values()),
        missing=sum(f"ccaip-{session_id}" not in held for session_id in ids),
        calls=after["requests"] - after["throttled"],
        throttled=after["throttled"],
        redeliveries=redeliveries,
        outcomes=outcomes,
        wall=wall,
    )


def check(burst: Burst, sessions: int) -> None:
    print(burst.report())
    assert burst.records == sessions
    assert burst.duplicates == 0
    assert burst.missing == 0
    assert burst.ratio <= 1.10


def test_a_burst_of_200_sessions_takes_what_400_calls_a_minute_allow(emulators, fakes):
    """The quick variant (~30 s), to iterate on."""
    check(run_burst(emulators.project, fakes, 200), 200)


@pytest.mark.timeout(1200)
def test_a_burst_of_2000_sessions_ends_with_2000_records_within_10_percent_of_the_limit(
    emulators, fakes
):
    """Under a CRM that allows 400 calls a minute: 2,000 records, none twice, <= 1.1 x ideal."""
    check(run_burst(emulators.project, fakes, 2000), 2000)
