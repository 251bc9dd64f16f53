"""Bad input end to end: every rule of "What bad input gets" (platform-events.md).

Each case publishes one message that breaks one rule to the events topic; the push
subscription hands it to the ``ingest`` function next to sessions whose files are
already written. The message must be acknowledged, kept whole in quarantine, listed
by ``sessionctl quarantine list``, applied to no session (no file changes, even after
another tick), and, replayed with a fixed body, land in its own session's next file.

Acknowledged means the function answered 2xx the first time: while a push endpoint
answers anything else the Pub/Sub emulator pushes the message again about once a
second (measured: 0.1 s, 1.1 s, 2.2 s, 3.2 s after publishing), and every push of
a rejected message writes one structured ERROR line to the ingest log. One line,
seconds later, is one delivery.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sessionctl.cli import main as sessionctl
from sessionctl.feed import publish_lines, publish_tick
from sessionctl.probe import local_probe
from shared import bootstrap
from shared.adapters.gcs_files import StoredObject
from shared.domain.events import MAX_PAYLOAD_BYTES, PLACING_FIELDS
from tests.e2e.conftest import using, wait_for
from tests.factory import T0, envelope, handled_call, raw
from tests.integration.helpers import unique

pytestmark = pytest.mark.e2e

GOOD_DUE = T0 + timedelta(seconds=200 + 900)  # handled_call ends at +200 s; files 15 min later
WITNESS_END = T0 + timedelta(seconds=1000)  # a session that falls due between the two ticks
SECOND_TICK = T0 + timedelta(seconds=2000)
REDELIVERY_WINDOW = 3.0  # seconds: room for two redeliveries of a message the function failed

Doc = dict[str, Any]


# --------------------------------------------------------------------------- the cases


def csat(session_id: str) -> Doc:
    """A late CSAT: the fixed event most cases replay."""
    return envelope(
        "session.csat",
        {"rating": 4, "comment": "Quick and kind"},
        session_id=session_id,
        at=T0 + timedelta(seconds=90),
        event_id=f"{session_id}-fixed",
    )


def queued(session_id: str) -> Doc:
    return envelope(
        "session.status_changed",
        {"status": "queued", "status_code": 1, "queue": {"id": "6205", "name": "Billing"}},
        session_id=session_id,
        at=T0 + timedelta(seconds=10),
        event_id=f"{session_id}-fixed",
    )


def custom_data(session_id: str) -> Doc:
    return envelope(
        "stream.custom_data",
        {"note": "a short note"},
        session_id=session_id,
        at=T0 + timedelta(seconds=30),
        event_id=f"{session_id}-fixed",
    )


def changed(doc: Doc, **fields: Any) -> bytes:
    return raw({**doc, **fields})


def without(doc: Doc, name: str) -> bytes:
    return raw({k: v for k, v in doc.items() if k != name})


def changed_data(doc: Doc, **fields: Any) -> bytes:
    return raw({**doc, "data": {**doc["data"], **fields}})


@dataclass(frozen=True)
class Case:
    name: str
    reason: str
    fixed: Callable[[str], Doc]  # the envelope the platform meant to send
    broken: Callable[[Doc], bytes]  # the body it sent instead


def missing(name: str) -> Case:
    return Case(f"envelope_without_{name}", "missing_field", csat, lambda d: without(d, name))


CASES = [
    # The spec's rules, in its order.
    Case("not_json", "not_json", csat, lambda d: raw(d)[:-9]),
    Case("json_but_not_an_object", "not_json", csat, lambda d: raw([d])),
    *(missing(name) for name in PLACING_FIELDS),
    Case(
        "envelope_with_null_occurred_at",
        "missing_field",
        csat,
        lambda d: changed(d, occurred_at=None),
    ),
    Case("unknown_spec", "unsupported_spec", csat, lambda d: changed(d, spec="session-event/v2")),
    Case("unknown_type", "unknown_type", csat, lambda d: changed(d, type="session.rated")),
    Case(
        "status_off_the_table", "status_mismatch", queued, lambda d: changed_data(d, status_code=2)
    ),
    Case(
        "occurred_at_not_a_date",
        "bad_timestamp",
        csat,
        lambda d: changed(d, occurred_at="2023-09-31T09:43:31.000+03:00"),
    ),
    Case(
        "payload_over_1_mib",
        "payload_too_large",
        custom_data,
        lambda d: changed_data(d, note="x" * (MAX_PAYLOAD_BYTES + MAX_PAYLOAD_BYTES // 10)),
    ),
]


def attributes_of(body: bytes, fixed: Doc) -> dict[str, str]:
    """What the platform attaches: copies of ``session_id`` and ``type`` where it has them.

    The platform sets attributes apart from the body, so an unreadable body still has
    them; one more attribute shows that all of them are kept, not re-derived.
    """
    try:
        doc = json.loads(body)
    except ValueError:
        doc = fixed
    if not isinstance(doc, dict):
        doc = fixed
    copies = {k: doc[k] for k in ("session_id", "type") if isinstance(doc.get(k), str)}
    return {**copies, "producer": "bad-input-e2e"}


# --------------------------------------------------------------------------- the scene


@dataclass
class Sent:
    case: Case
    session_id: str
    base: list[Doc]  # the good events of the case's own session
    fixed: Doc
    body: bytes
    attributes: dict[str, str]
    message_id: str = ""


@dataclass
class Scene:
    good_session: str
    witness_session: str
    files_before: dict[str, StoredObject]  # every file written by the first tick
    sent: dict[str, Sent]


def ended(session_id: str, at=T0 + timedelta(seconds=60)) -> Doc:
    """The end of a session: enough for a file 15 minutes later."""
    return envelope(
        "session.ended",
        {"final_status": "finished", "disconnected_by": "end_user"},
        session_id=session_id,
        at=at,
    )


def stored_ids(session_id: str) -> set[str]:
    return {e.event_id for e in bootstrap.events().load_events(session_id)}


def read(name: str) -> StoredObject | None:
    return bootstrap.files().read(name)


def file_names(session_id: str) -> list[str]:
    return [f"metadata-{session_id}.json", f"datastream-{session_id}.json"]


def metadata(session_id: str) -> Doc | None:
    stored = read(f"metadata-{session_id}.json")
    return None if stored is None else json.loads(stored.data)


def ingest_lines(stack, message_id: str) -> list[Doc]:
    """The ingest function's structured log lines about one message."""
    lines = []
    log = Path(stack.log_dir) / "ingest.log"
    for text in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(text)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("message_id") == message_id:
            lines.append(entry)
    return lines


def state_dir(stack) -> str:
    return str(Path(stack.log_dir).parent)


@pytest.fixture(scope="module", autouse=True)
def stack_env(e2e_stack) -> Iterator[None]:
    with using(e2e_stack):
        yield


@pytest.fixture(scope="module")
def scene(e2e_stack, stack_env) -> Scene:
    """Good sessions with files written, then every bad message, then a second tick."""
    good = handled_call(unique("good"))
    witness = unique("witness")
    sent: dict[str, Sent] = {}
    for case in CASES:
        session_id = unique(f"bad-{case.name}"[:40])
        fixed = case.fixed(session_id)
        base = [ended(session_id)]
        body = case.broken(fixed)
        sent[case.name] = Sent(case, session_id, base, fixed, body, attributes_of(body, fixed))
    docs = [*good.docs, ended(witness, WITNESS_END)]
    docs += [d for s in sent.values() for d in s.base]
    publish_lines(e2e_stack, [raw(d) for d in docs])
    expected = {good.session_id: len(good.docs), witness: 1}
    expected |= {s.session_id: len(s.base) for s in sent.values()}
    wait_for(
        "good events stored",
        lambda: all(len(stored_ids(sid)) == n for sid, n in expected.items()),
    )

    publish_tick(e2e_stack, GOOD_DUE)
    written = [good.session_id] + [s.session_id for s in sent.values()]
    names = [name for sid in written for name in file_names(sid)]
    wait_for("first files", lambda: all(read(name) for name in names))
    files_before = {name: read(name) for name in names}
    assert metadata(witness) is None  # not due yet: the second tick writes it

    publisher = bootstrap.publisher()
    for s in sent.values():
        s.message_id = publisher.publish(e2e_stack.topics["events"], s.body, **s.attributes)
    quarantine = bootstrap.quarantine()
    wait_for(
        "every bad message quarantined",
        lambda: all(quarantine.get_quarantine(s.message_id) for s in sent.values()),
    )
    quarantined = time.monotonic()
    publish_tick(e2e_stack, SECOND_TICK)
    wait_for("the witness's file", lambda: metadata(witness))
    time.sleep(max(0.0, quarantined + REDELIVERY_WINDOW - time.monotonic()))
    return Scene(good.session_id, witness, files_before, sent)


# --------------------------------------------------------------------------- the tests


def test_every_case_breaks_only_its_rule():
    from shared.domain.errors import BadInput
    from shared.domain.events import parse_event

    for case in CASES:
        fixed = case.fixed("12345")
        parse_event(raw(fixed))
        with pytest.raises(BadInput) as bad:
            parse_event(case.broken(fixed))
        assert bad.value.reason == case.reason, case.name


def test_the_bad_messages_change_no_file_even_after_another_tick(scene):
    for name, before in scene.files_before.items():
        after = read(name)
        assert (after.generation, after.data) == (before.generation, before.data), name
    probe = local_probe()
    for sid in [scene.good_session] + [s.session_id for s in scene.sent.values()]:
        schedule = probe.schedule(sid)
        assert schedule.version == 1 and not schedule.pending, sid


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_bad_message_is_acknowledged_kept_listed_and_replayable_after_a_fix(
    case, scene, e2e_stack, tmp_path, capsys
):
    s = scene.sent[case.name]
    quarantine = bootstrap.quarantine()

    # Acknowledged: exactly one delivery, rejected with one structured error line.
    [line] = ingest_lines(e2e_stack, s.message_id)
    assert line["severity"] == "ERROR" and line["reason"] == case.reason
    assert line["message"] == f"rejected message {s.message_id}: {case.reason}"
    assert line["session_id"] == s.attributes.get("session_id")

    # Kept whole, and applied to no session.
    kept = quarantine.get_quarantine(s.message_id)
    assert kept.raw == s.body and len(kept.raw) == len(s.body)
    assert kept.attributes == s.attributes
    assert kept.reason == case.reason and kept.replayed_as is None
    assert kept.detail and kept.detail == line["detail"]
    assert stored_ids(s.session_id) == {d["event_id"] for d in s.base}
    assert metadata(s.session_id)["event_count"] == len(s.base)

    # Listed for an operator.
    assert sessionctl(["--state-dir", state_dir(e2e_stack), "quarantine", "list"]) == 0
    rows = [r.split("\t") for r in capsys.readouterr().out.splitlines()]
    [row] = [r for r in rows if r[0] == s.message_id]
    assert row[2] == case.reason and row[3] == f"{len(s.body)} bytes"

    # Replayed after a fix: it lands in its session and in the session's next file.
    fixed_file = tmp_path / "fixed.json"
    fixed_file.write_bytes(raw(s.fixed))
    replay = ["quarantine", "replay", s.message_id, "--data", str(fixed_file)]
    assert sessionctl(["--state-dir", state_dir(e2e_stack), *replay]) == 0
    assert f"replayed {s.message_id} as message" in capsys.readouterr().out
    wait_for("the fixed event stored", lambda: s.fixed["event_id"] in stored_ids(s.session_id))
    replayed_as = quarantine.get_quarantine(s.message_id).replayed_as
    assert replayed_as and replayed_as != s.message_id
    assert sessionctl(["--state-dir", state_dir(e2e_stack), "quarantine", "list"]) == 0
    assert s.message_id not in {r.split("\t")[0] for r in capsys.readouterr().out.splitlines()}
    assert sessionctl(["--state-dir", state_dir(e2e_stack), "quarantine", "list", "--all"]) == 0
    [row] = [r for r in capsys.readouterr().out.splitlines() if r.startswith(f"{s.message_id}\t")]
    assert row.endswith(f"replayed as {replayed_as}")

    publish_tick(e2e_stack, SECOND_TICK)
    doc = wait_for(
        "the session's next file",
        lambda: (m := metadata(s.session_id)) and m["version"] == 2 and m,
    )
    assert doc["event_count"] == len(s.base) + 1
    for name in file_names(scene.good_session):
        before, after = scene.files_before[name], read(name)
        assert (after.generation, after.data) == (before.generation, before.data)
