"""Operator commands against a "deployed environment" played by the emulators.

sessionctl is pointed at the emulators exactly as at a project: the standard
``*_EMULATOR_HOST`` variables plus ``--outputs`` (the Terraform ``operator`` output
a deployment hands it). The state directory is empty: no local stack file is read.
The emulators hold what Terraform would create (topics, dead-letter topics, holds).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.cloud import firestore, pubsub_v1

from sessionctl import operate
from sessionctl.cli import main as sessionctl
from sessionctl.target import TRIGGERS
from shared import bootstrap
from shared.adapters.firestore_crm import FirestoreCrmRecords
from shared.adapters.firestore_events import FirestoreEvents
from shared.adapters.firestore_quarantine import FirestoreQuarantine
from shared.adapters.firestore_schedule import FirestoreSchedule
from shared.config import get_settings
from shared.domain.events import parse_event
from shared.ports import QuarantineRecord

pytestmark = pytest.mark.emulators

HOSTS = ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")


def _reset() -> None:
    get_settings.cache_clear()
    for name in ("firestore_client", "files", "publisher", "webhook", "crm_deps"):
        getattr(bootstrap, name).cache_clear()


@pytest.fixture
def deployed(emulators, tmp_path: Path) -> Iterator[dict]:
    """An environment on the emulators: its own names, its topics and holds, its outputs file."""
    run = uuid.uuid4().hex[:8]
    project = emulators.project
    collections = {
        "sessions": f"sessions_{run}",
        "quarantine": f"quarantine_{run}",
        "crm_deliveries": f"crm_deliveries_{run}",
        "crm_records": f"crm_records_{run}",
        "crm_dead_letters": f"crm_dead_letters_{run}",
        "events": "events",
        "chunks": "chunks",
        "ticks": f"ticks_{run}",
    }
    topics = {
        key: f"{name}-{run}"
        for key, name in {
            "events": "session-events",
            "ticks": "finalize-ticks",
            "finalized": "session-finalized",
            "crm_jobs": "crm-jobs",
            "finalize_jobs": "finalize-jobs",
        }.items()
    }
    holds = {
        key: {"subscription": f"{topics[topic]}-{fn}-dead-letter-hold", "topic": topics[topic]}
        for key, (topic, fn) in TRIGGERS.items()
    }
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    taps = {}
    for key, topic in topics.items():  # what Terraform creates, plus a tap per topic
        publisher.create_topic(name=publisher.topic_path(project, topic))
        taps[key] = subscriber.subscription_path(project, f"{topic}-tap")
        subscriber.create_subscription(
            request={"name": taps[key], "topic": publisher.topic_path(project, topic)}
        )
    for key, hold in holds.items():
        dead_letter_topic = publisher.topic_path(project, f"{key}-{run}-dead-letter")
        publisher.create_topic(name=dead_letter_topic)
        subscriber.create_subscription(
            request={
                "name": subscriber.subscription_path(project, hold["subscription"]),
                "topic": dead_letter_topic,
                "ack_deadline_seconds": 60,
            }
        )
        hold["dead_letter_topic"] = dead_letter_topic
    operator = {
        "environment": "emulated",
        "project_id": project,
        "firestore_database": "(default)",
        "bucket": emulators.bucket,
        "object_prefix": "",
        "collections": collections,
        "topics": topics,
        "finalize_delay": 900,
        "holds": {
            k: {"subscription": h["subscription"], "topic": h["topic"]} for k, h in holds.items()
        },
        "crm": {"kind": "none", "webhook": False},
    }
    outputs = tmp_path / "operator.json"
    outputs.write_text(json.dumps(operator))
    empty_state = tmp_path / "no-stack"
    empty_state.mkdir()
    saved = dict(os.environ)
    # Only the emulator hosts come from the environment; everything else from --outputs.
    for name in list(os.environ):
        if (
            name not in HOSTS
            and name.upper() == name
            and "_" in name
            and not name.startswith(
                ("PATH", "HOME", "PYTEST", "PYTHON", "LANG", "LC_", "TMP", "CI")
            )
        ):
            os.environ.pop(name, None)
    _reset()
    db = firestore.Client(project=project)
    yield {
        "args": ["--state-dir", str(empty_state), "--outputs", str(outputs)],
        "project": project,
        "collections": collections,
        "topics": topics,
        "holds": holds,
        "taps": taps,
        "db": db,
        "publisher": publisher,
        "subscriber": subscriber,
    }
    os.environ.clear()
    os.environ.update(saved)
    _reset()
    subscriber.close()


def _run(deployed: dict, capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = sessionctl([*deployed["args"], *args])
    out, err = capsys.readouterr()
    return code, out, err


def _pull(deployed: dict, subscription: str, expect: int) -> list:
    got: list = []
    for _ in range(20):
        if len(got) >= expect:
            break
        response = deployed["subscriber"].pull(
            request={"subscription": subscription, "max_messages": 100}, timeout=10
        )
        if response.received_messages:
            deployed["subscriber"].acknowledge(
                request={
                    "subscription": subscription,
                    "ack_ids": [r.ack_id for r in response.received_messages],
                }
            )
        got += [r.message for r in response.received_messages]
    return got


class _Store:
    """The adapters a deployment's functions write with, on this environment's collections."""

    def __init__(self, deployed: dict) -> None:
        sessions = deployed["collections"]["sessions"]
        self.events = FirestoreEvents(deployed["db"], sessions=sessions)
        self.schedule = FirestoreSchedule(deployed["db"], sessions=sessions)
        self.quarantine = FirestoreQuarantine(
            deployed["db"], collection=deployed["collections"]["quarantine"]
        )


def _store(deployed: dict) -> _Store:
    return _Store(deployed)


def _due_session(store: _Store, session_id: str, ended: datetime) -> None:
    for raw in operate.smoke_session(session_id, ended):
        event = parse_event(raw)
        store.events.add_event(event)
        store.schedule.note_event(
            event, delay=timedelta(seconds=900), stuck_timeout=timedelta(days=1)
        )


def _dead_letters(deployed: dict, count: int) -> list[str]:
    hold = deployed["holds"]["ingest_events"]
    ids = []
    for n in range(count):
        future = deployed["publisher"].publish(
            hold["dead_letter_topic"],
            json.dumps({"n": n}).encode(),
            session_id=f"s-{n}",
            CloudPubSubDeadLetterSourceSubscription="session-events-ingest",
            CloudPubSubDeadLetterSourceDeliveryCount="20",
        )
        ids.append(future.result(timeout=30))
    return ids


# --- status ---------------------------------------------------------------------------------


def test_status_prints_the_backlog_of_the_environment(deployed, capsys) -> None:
    now = datetime.now(UTC)
    store = _store(deployed)
    _due_session(store, "due-old", now - timedelta(minutes=20))  # due 5 min ago
    _due_session(store, "due-new", now - timedelta(minutes=16))  # due 1 min ago
    _due_session(store, "not-yet", now - timedelta(minutes=5))  # due in 10 min
    assert store.schedule.claim("due-new", now, timedelta(minutes=2)) is not None
    store.quarantine.keep(
        QuarantineRecord("q-1", b"{bad", {}, "invalid_json", "line 1", received_at=now)
    )
    FirestoreCrmRecords(
        deployed["db"],
        collection=deployed["collections"]["crm_records"],
        dead_letters=deployed["collections"]["crm_dead_letters"],
    ).dead_letter("due-old--v1", {"session_id": "due-old", "version": 1}, "403 refused")
    _dead_letters(deployed, 3)

    code, out, err = _run(deployed, capsys, "status", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["due_sessions"] == 2
    assert 280 <= report["oldest_due_age_s"] <= 420
    assert [c["session_id"] for c in report["claims"]] == ["due-new"]
    assert report["crm_dead_letters"] == 1 and report["quarantined"] == 1
    assert report["dead_letter_holds"]["ingest_events"] == 3
    assert report["dead_letter_holds"]["finalize_ticks"] == 0
    assert "status:" in err, "progress is shown on stderr"

    code, out, _ = _run(deployed, capsys, "status")
    assert code == 0
    assert "due sessions       2" in out and "oldest due         " in out
    assert "finalize claims    1: due-new until" in out
    assert "dead-letter hold   ingest_events    3" in out


# --- Pub/Sub dead-letter holds ------------------------------------------------------------


def test_holds_list_shows_letters_and_leaves_them(deployed, capsys) -> None:
    ids = _dead_letters(deployed, 3)
    code, out, err = _run(deployed, capsys, "holds", "list", "ingest_events")
    assert code == 0, err
    assert "ingest_events: 3 in" in out
    assert all(i in out for i in ids)
    code, out, _ = _run(deployed, capsys, "holds", "list", "--json")
    assert code == 0
    assert {m["message_id"] for m in json.loads(out)["ingest_events"]} == set(ids)


def test_holds_republish_puts_letters_back_on_their_topic(deployed, capsys) -> None:
    _dead_letters(deployed, 3)
    code, out, err = _run(deployed, capsys, "holds", "republish", "ingest_events", "--limit", "2")
    assert code == 0, err
    assert "republished 2 message(s)" in out
    back = _pull(deployed, deployed["taps"]["events"], 2)
    assert len(back) == 2
    for message in back:
        assert json.loads(message.data)["n"] in (0, 1, 2)
        assert message.attributes["session_id"].startswith("s-")
        assert not any(k.startswith("CloudPubSubDeadLetter") for k in message.attributes)
    code, out, _ = _run(deployed, capsys, "status", "--json")
    assert json.loads(out)["dead_letter_holds"]["ingest_events"] == 1


def test_holds_purge_asks_then_deletes(deployed, capsys) -> None:
    _dead_letters(deployed, 2)
    code, _, err = _run(deployed, capsys, "holds", "purge", "ingest_events")
    assert code == 2 and "--yes" in err  # no terminal to ask: refused, nothing deleted
    code, out, _ = _run(deployed, capsys, "status", "--json")
    assert json.loads(out)["dead_letter_holds"]["ingest_events"] == 2
    code, out, err = _run(deployed, capsys, "holds", "purge", "ingest_events", "--yes")
    assert code == 0, err
    assert "purged 2 message(s)" in out
    code, out, _ = _run(deployed, capsys, "holds", "list", "ingest_events")
    assert "ingest_events: 0 in" in out


def test_an_unknown_trigger_is_one_clear_line(deployed, capsys) -> None:
    code, _, err = _run(deployed, capsys, "holds", "republish", "ingest")
    assert code == 2
    assert "no trigger 'ingest'" in err and "ingest_events" in err


# --- quarantine and CRM dead letters on the deployed path ---------------------------------


def test_quarantine_list_and_replay_reach_the_environment(deployed, capsys) -> None:
    store = _store(deployed)
    fixed = operate.smoke_session("q-session", datetime.now(UTC))[0]
    store.quarantine.keep(
        QuarantineRecord(
            "msg-7",
            b'{"spec": 1}',
            {"session_id": "q-session"},
            "schema",
            "spec: not a string",
            received_at=datetime.now(UTC),
        )
    )
    code, out, err = _run(deployed, capsys, "quarantine", "list")
    assert code == 0, err
    assert "msg-7" in out and "schema" in out
    data = Path(deployed["args"][3]).with_name("fixed.json")
    data.write_bytes(fixed)
    code, out, err = _run(deployed, capsys, "quarantine", "replay", "msg-7", "--data", str(data))
    assert code == 0, err
    (message,) = _pull(deployed, deployed["taps"]["events"], 1)
    assert message.data == fixed
    assert store.quarantine.get_quarantine("msg-7").replayed_as == message.message_id


def test_crm_dead_letters_and_replay_reach_the_environment(deployed, capsys) -> None:
    records = FirestoreCrmRecords(
        deployed["db"],
        collection=deployed["collections"]["crm_records"],
        dead_letters=deployed["collections"]["crm_dead_letters"],
    )
    job = {"session_id": "s-9", "trigger": "session.created"}
    records.dead_letter("s-9--session.created", job, "422 invalid requester")
    code, out, err = _run(deployed, capsys, "crm", "dead-letters")
    assert code == 0, err
    assert "s-9--session.created" in out and "422 invalid requester" in out
    code, out, err = _run(deployed, capsys, "crm", "replay", "s-9--session.created")
    assert code == 0, err
    (message,) = _pull(deployed, deployed["taps"]["crm_jobs"], 1)
    assert json.loads(message.data) == job
    assert records.get_dead_letter("s-9--session.created").replayed_as == message.message_id


def test_show_reads_the_environment(deployed, capsys) -> None:
    _due_session(_store(deployed), "shown-1", datetime.now(UTC) - timedelta(minutes=1))
    code, out, err = _run(deployed, capsys, "show", "shown-1")
    assert code == 0, err
    assert "shown-1" in out


def test_holds_need_a_deployed_environment(deployed, capsys, tmp_path: Path) -> None:
    code, _, err = _run({"args": ["--state-dir", str(tmp_path)]}, capsys, "holds", "list")
    assert code == 2 and "--env NAME" in err
