"""Benchmarks (``make bench``): Firestore writes per ingested event, and a 200-event burst.

They print figures; the bounds asserted are the issue's targets, not timings.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from sessionctl.simulate import simulate_traffic
from shared.adapters.pubsub import PubsubMessage
from shared.service.ingest import ingest_message
from tests.factory import SessionScript
from tests.integration.helpers import make_pipeline, unique

pytestmark = [pytest.mark.benchmark, pytest.mark.emulators]


def ingest_all(pipe, bodies, workers: int):
    def one(body: bytes):
        message = PubsubMessage(data=body, message_id=unique("m"))
        return ingest_message(message, store=pipe.store, settings=pipe.settings)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, bodies))


@pytest.mark.parametrize("seed", [7, 11, 23])
def test_writes_per_event_on_demo_traffic(emulators, seed):
    pipe = make_pipeline(emulators.project)
    traffic = simulate_traffic(seed=seed, now=datetime.now(UTC), sessions=60)
    started = time.perf_counter()
    outcomes = ingest_all(pipe, traffic.lines, workers=8)
    elapsed = time.perf_counter() - started
    stored = sum(o.outcome == "stored" for o in outcomes)
    quarantined = sum(o.outcome == "quarantined" for o in outcomes)
    event_writes = pipe.store.writes - quarantined  # one quarantine doc per bad message
    per_event = event_writes / stored
    per_message = pipe.store.writes / len(outcomes)
    print(
        f"\ndemo traffic (seed {seed}): {len(outcomes)} messages, {stored} distinct events, "
        f"{quarantined} quarantined; {pipe.store.writes} document writes; "
        f"{per_event:.3f} writes per ingested event ({per_message:.3f} per message); "
        f"{len(outcomes) / elapsed:.0f} messages/s with 8 threads"
    )
    assert per_event <= 1.2


def test_a_burst_of_200_events_into_one_session_within_2_seconds(emulators):
    pipe = make_pipeline(emulators.project)
    s = SessionScript(session_id=unique("burst"))
    s.at(0).add("session.created", {"session_type": "Voice inbound", "lang": "en"})
    for n in range(198):
        s.at(0.5 + n * 0.01).add(
            "stream.realtime_transcript", {"lines": [{"speaker": "agent", "text": f"word {n}"}]}
        )
    s.at(2.5).add("session.ended", {"final_status": "finished", "disconnected_by": "agent"})
    bodies = [body for body in map(lambda d: __import__("json").dumps(d).encode(), s.docs)]
    bodies = bodies[::2] + bodies[1::2]  # shuffled arrival
    started = time.perf_counter()
    outcomes = ingest_all(pipe, bodies, workers=32)
    elapsed = time.perf_counter() - started
    retries = pipe.store.transaction_attempts - pipe.store.transactions
    print(
        f"\nburst: 200 events into one session in {elapsed:.2f} s "
        f"({200 / elapsed:.0f} events/s, 32 threads); {pipe.store.writes} document writes; "
        f"{pipe.store.transactions} transactions, {retries} aborted attempts retried"
    )
    assert sorted({o.outcome for o in outcomes}) == ["stored"]
    assert len(pipe.store.load_events(s.session_id)) == 200
    assert retries == 0
