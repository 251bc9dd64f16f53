"""The unary document read answers what ``DocumentReference.get`` answers.

On the emulator, because the decoding of the service's values (timestamps, maps,
bytes, nested arrays) and the update time used as a write precondition are the
service's.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.adapters.firestore_common import read_document
from tests.integration.helpers import unique

pytestmark = pytest.mark.emulators


@pytest.fixture
def db(emulators):
    return firestore.Client(project=emulators.project)


def test_a_stored_document_reads_as_get_reads_it(db):
    ref = db.collection(unique("read")).document("doc")
    ref.set(
        {
            "at": datetime(2026, 12, 1, 4, 5, 6, 789000, tzinfo=UTC),
            "inline": {"k": '{"a": 1}'},
            "claim": None,
            "n": 7,
            "blob": b"\x00\x01",
            "list": [1, "two", {"three": 3.0}],
        }
    )
    snapshot = ref.get()
    read = read_document(db, ref)
    assert read.exists
    assert read.data == snapshot.to_dict()
    assert read.update_time == snapshot.update_time


def test_its_update_time_guards_a_write_as_gets_does(db):
    ref = db.collection(unique("read")).document("doc")
    ref.set({"n": 1})
    read = read_document(db, ref)
    ref.update({"n": 2}, option=db.write_option(last_update_time=read.update_time))
    with pytest.raises(gexc.FailedPrecondition):
        ref.update({"n": 3}, option=db.write_option(last_update_time=read.update_time))
    assert ref.get().to_dict() == {"n": 2}


def test_an_absent_document_reads_as_absent(db):
    read = read_document(db, db.collection(unique("read")).document("missing"))
    assert not read.exists
    assert read.data is None
