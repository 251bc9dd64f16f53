"""The committed JSON Schemas: in step with the models, and true of the files the pipeline writes."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from sessionctl.schema import main, stale_schemas, write_schemas
from shared.domain.events import parse_envelope
from shared.domain.files import SessionFiles, render_files
from shared.domain.schemas import DatastreamFile, schemas
from tests.factory import SessionScript, handled_call

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "schemas"
GOLDEN = ROOT / "tests" / "golden"
PLUS3 = timezone(timedelta(hours=3))
WRITTEN = datetime(2023, 9, 11, 7, 0, tzinfo=UTC)


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((COMMITTED / name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


METADATA = validator("metadata.schema.json")
DATASTREAM = validator("datastream.schema.json")


def errors(check: Draft202012Validator, doc: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in check.iter_errors(doc)]


def files_of(session_id: str, docs: list[dict[str, Any]]) -> SessionFiles:
    events = [parse_envelope(copy.deepcopy(doc)) for doc in docs]
    return render_files(session_id, events, version=2, updated_at=WRITTEN, zone=PLUS3)


def chat_session() -> SessionScript:
    s = SessionScript(session_id="3034", channel="chat")
    s.at(0).add("session.created", {"session_type": "Messaging (Web)", "lang": "en-US"})
    s.at(1).add("stream.chat_started", {"chat_id": 3034, "menu": {"id": 7, "name": "Orders"}})
    s.at(5).status("queued", 1, queue={"id": 7, "name": "Orders"})
    s.at(9).status("assigned", 2, agent={"id": 9, "name": "Alex B"})
    s.at(10).status("connected", 5)
    s.at(12).add("chat.message", {"sender": "end_user", "message_id": "m1"})
    s.at(20).add("chat.message", {"sender": "agent", "message_id": "m2", "text": "Hi"})
    s.at(30).add("stream.customer_rating", {"score": "5", "text": "très bien"})
    s.at(40).add("session.ended", {"final_status": "finished", "disconnected_by": "end_user"})
    return s


def stuck_session() -> SessionScript:
    s = SessionScript(session_id="stuck-1")
    s.at(0).add("stream.custom_data", {"purchaseDate": "Invalid DateTime", "temperature": 70.5})
    s.at(3).status("queued", 1)
    return s


def seed_sessions() -> list[tuple[str, list[dict[str, Any]]]]:
    seed_001 = json.loads((GOLDEN / "seed001_datastream.json").read_text(encoding="utf-8"))
    seed_002 = json.loads((GOLDEN / "seed002_sessions.json").read_text(encoding="utf-8"))
    cases = [("6800", seed_001["envelopes"])]
    cases += [
        (s["envelopes"][0]["session_id"], s["envelopes"]) for s in seed_002["sessions"].values()
    ]
    return cases


SESSIONS = [
    ("12345", handled_call().docs),
    ("3034", chat_session().docs),
    ("stuck-1", stuck_session().docs),
    *seed_sessions(),
]


def test_the_committed_schemas_are_the_models_schemas():
    assert stale_schemas(COMMITTED) == [], "stale schemas: run `sessionctl schema`"


@pytest.mark.parametrize(("session_id", "docs"), SESSIONS, ids=[s for s, _ in SESSIONS])
def test_written_files_validate_against_both_schemas(session_id, docs):
    files = files_of(session_id, docs)
    metadata, datastream = (json.loads(raw) for raw in files.encoded())
    assert errors(METADATA, metadata) == []
    assert errors(DATASTREAM, datastream) == []
    DatastreamFile.model_validate(datastream)


def test_the_metadata_schema_holds_every_key_and_no_other():
    metadata = json.loads(files_of("12345", handled_call().docs).encoded()[0])
    missing = {k: v for k, v in metadata.items() if k != "comment"}
    assert any("'comment' is a required property" in e for e in errors(METADATA, missing))
    assert errors(METADATA, {**metadata, "surprise": 1})
    assert errors(METADATA, {**metadata, "status_code": "81"})


def test_the_datastream_schema_matches_items_by_type_and_takes_data_as_sent():
    s = SessionScript(session_id="6679")
    s.add("stream.call_started", {"call_id": 6679, "lang": "en-US", "new_field": [1, 2]})
    datastream = json.loads(files_of("6679", s.docs).encoded()[1])
    assert errors(DATASTREAM, datastream) == []  # a number for an id, an unknown key: kept
    item = datastream["events"][0]
    assert errors(DATASTREAM, {**datastream, "events": [{**item, "type": "stream.nope"}]})
    assert errors(DATASTREAM, {**datastream, "events": [{**item, "surprise": 1}]})
    # A field of another shape is written as sent, so the published schema takes it.
    odd = {**item, "data": {"call_id": {"not": "an id"}}}
    assert errors(DATASTREAM, {**datastream, "events": [odd]}) == []
    described = DATASTREAM.schema["$defs"]["CallStartedEvent"]["properties"]["data"]
    assert described["properties"]["call_id"] == {"description": "usually text or a number"}


def test_write_and_check_round_trip(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--check"]) == 1
    written = write_schemas(tmp_path)
    assert sorted(p.name for p in written) == sorted(schemas())
    assert stale_schemas(tmp_path) == []
    assert main(["--out", str(tmp_path), "--check"]) == 0
    (tmp_path / "metadata.schema.json").write_text("{}\n", encoding="utf-8")
    assert stale_schemas(tmp_path) == [tmp_path / "metadata.schema.json"]
    assert main(["--out", str(tmp_path)]) == 0 and stale_schemas(tmp_path) == []
    assert "stale:" in capsys.readouterr().out
