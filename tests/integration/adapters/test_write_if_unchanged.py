"""Compare-and-set on the emulator: a lost race reads again; racing claims take one.

Why these run on the emulator: the update-time precondition and the create-if-absent
are the service's, not ours, and the emulator answers them as the service does.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from google.cloud import firestore

from shared.adapters.firestore_common import DocumentContended, write_if_unchanged
from shared.domain.errors import TransientError
from tests.factory import handled_call
from tests.integration.helpers import make_pipeline, unique
from tests.meter import WorkCounts

pytestmark = pytest.mark.emulators
DELAY = timedelta(minutes=15)
STUCK = timedelta(hours=24)


@pytest.fixture
def db(emulators):
    return firestore.Client(project=emulators.project)


def no_pause(_seconds: float) -> None:
    return None


def test_a_write_that_lost_its_race_decides_again_on_what_won(db):
    ref = db.collection(unique("cas")).document("doc")
    ref.set({"count": 1, "by": "first"})
    seen: list[dict] = []

    def add_one(doc):
        seen.append(dict(doc))
        if len(seen) == 1:
            ref.update({"count": 5, "by": "racer"})  # lands between our read and our write
        return doc["count"] + 1, {"count": doc["count"] + 1}

    counts = WorkCounts()
    result = write_if_unchanged(db, ref, add_one, meter=counts, pause=no_pause)

    assert [doc["count"] for doc in seen] == [1, 5]
    assert result == 6
    assert ref.get().to_dict() == {"count": 6, "by": "racer"}
    assert (counts.transactions, counts.transaction_attempts, counts.writes) == (1, 2, 1)


def test_an_absent_document_is_created_and_a_racing_create_wins(db):
    ref = db.collection(unique("cas")).document("doc")
    seen: list[dict | None] = []

    def create_or_bump(doc):
        seen.append(doc)
        if doc is None and len(seen) == 1:
            ref.create({"n": 10})  # another writer creates it first
        return None, ({"n": 1} if doc is None else {"n": doc["n"] + 1})

    write_if_unchanged(db, ref, create_or_bump, pause=no_pause)

    assert seen == [None, {"n": 10}]
    assert ref.get().to_dict() == {"n": 11}


def test_nothing_to_write_writes_nothing(db):
    ref = db.collection(unique("cas")).document("doc")
    ref.set({"n": 1})
    before = ref.get().update_time
    counts = WorkCounts()

    assert write_if_unchanged(db, ref, lambda doc: ("kept", None), meter=counts) == "kept"
    assert ref.get().update_time == before
    assert counts.writes == 0


def test_a_document_that_keeps_changing_is_a_transient_error(db):
    ref = db.collection(unique("cas")).document("doc")
    ref.set({"n": 0})

    def always_overtaken(doc):
        ref.update({"n": doc["n"] + 100})
        return None, {"n": -1}

    with pytest.raises(DocumentContended) as raised:
        write_if_unchanged(db, ref, always_overtaken, attempts=3, pause=no_pause)
    assert isinstance(raised.value, TransientError)  # redelivered, not dropped
    assert ref.get().to_dict() == {"n": 300}


def test_eight_finalizers_racing_for_one_due_session_take_it_once(emulators):
    """Eight instances at once, the chaos run's burst of ticks: one claim, no error.

    As transactions, on the emulator, they took 2 s each and half failed (docs/chaos.md).
    """
    pipe = make_pipeline(emulators.project)
    events = handled_call(unique("s")).events()
    for event in events:
        pipe.events.add_event(event)
        pipe.schedule.note_event(event, delay=DELAY, stuck_timeout=STUCK)
    sid = events[0].session_id
    now = datetime.now(UTC) + DELAY + timedelta(hours=1)
    start = threading.Barrier(8)
    claims, errors = [], []

    def finalizer() -> None:
        start.wait()
        try:
            claims.append(pipe.schedule.claim(sid, now, timedelta(seconds=60)))
        except Exception as error:  # noqa: BLE001 - the test counts them
            errors.append(error)

    threads = [threading.Thread(target=finalizer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    taken = [claim for claim in claims if claim is not None]
    assert len(taken) == 1
    assert pipe.schedule.holds(taken[0])
