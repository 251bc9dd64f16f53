"""Fuzz: any shape of any payload field places the event and gives files that fit their schemas.

For every lifecycle and ``stream.*`` type, each field the payload's model names (and
each field of the objects nested in it: agent, menu, queue, from/to, ...) gets a random
JSON value: text in the contract's spellings or any other, numbers as numbers or text,
objects, lists, ``null``, ``true``. The envelope's optional parts (``channel``,
``sequence``, ``data`` itself) vary too. Whatever comes:

- the event is placed (``parse_event`` never raises ``BadInput``) and applied: the file
  counts it;
- nothing raises while reducing and rendering;
- both files validate against the committed JSON Schemas (``schemas/*.json``) and the
  metadata file against its model; the data stream carries every ``data`` exactly as sent.

The one payload rule that does quarantine, a ``status``/``status_code`` pair off the table,
is kept out of the random values: the pair is drawn from the table (in any spelling, the
code as number or text, either half alone) or as a non-scalar shape that names no status.
"""

from __future__ import annotations

import json
import types
import typing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from shared.domain.catalog import EVENT_TYPES, STATUS_CODES, STREAM_TYPES
from shared.domain.events import PAYLOAD_MODELS, parse_event
from shared.domain.files import render_files
from shared.domain.metadata import validate_metadata
from shared.domain.shapes import Open
from tests.factory import T0, SessionScript, envelope, raw

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
METADATA = Draft202012Validator(json.loads((SCHEMAS / "metadata.schema.json").read_text()))
DATASTREAM = Draft202012Validator(json.loads((SCHEMAS / "datastream.schema.json").read_text()))
WRITTEN = datetime(2023, 9, 11, 9, tzinfo=UTC)

# Values the contract names somewhere, so that the happy paths are drawn as well as junk.
KNOWN_TEXT = [
    *STATUS_CODES,
    "finished",
    "Failed",
    "voicemail received",
    "end_user",
    "End User",
    "agent",
    "virtual-agent",
    "system",
    "granted",
    "Not Asked",
    "photo",
    "Videos",
    "verification",
    "uploaded",
    "verified",
    "in_call",
    "Wait Time",
    "outbound",
    "preview",
    "progressive",
    "Voice inbound",
    "messaging (web)",
    "2420/4563/6205",
    "2023-09-11T09:45:00.000+03:00",
    "Invalid DateTime",
    "3",
    "4.0",
    "",
    "é中\u0000",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(KNOWN_TEXT),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["id", "name", "code", "x", "path"]), inner, max_size=3),
    ),
    max_leaves=6,
)


def _models_in(annotation: Any) -> list[type[Open]]:
    """The payload models an annotation names (through Annotated, unions and lists)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[Open]] = []
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            found += _models_in(arg)
    return found


def payloads(model: type[Open], depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Objects naming any subset of the model's fields, each with a random shape."""
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for name, field in model.model_fields.items():
        shapes = [json_values]
        if depth < 2:
            shapes += [payloads(sub, depth + 1) for sub in _models_in(field.annotation)]
        optional[field.alias or name] = st.one_of(*shapes)
    return st.fixed_dictionaries({}, optional=optional)


def _spellings(name: str) -> list[str]:
    return [name, name.upper(), name.replace("_", " ").title(), name.replace("_", "-")]


status_pairs = st.sampled_from(sorted(STATUS_CODES.items())).flatmap(
    lambda pair: st.fixed_dictionaries(
        {},
        optional={
            "status": st.sampled_from(_spellings(pair[0])),
            "status_code": st.sampled_from([pair[1], str(pair[1]), float(pair[1])]),
        },
    )
)
no_status = st.fixed_dictionaries(
    {},
    optional={
        "status": st.one_of(
            st.none(),
            st.lists(scalars, max_size=2),
            st.dictionaries(st.text(max_size=3), scalars, max_size=2),
        ),
        "status_code": st.one_of(st.none(), st.booleans(), st.lists(scalars, max_size=2)),
    },
)


def data_for(event_type: str) -> st.SearchStrategy[Any]:
    """A random payload of this type; now and then no object at all."""
    shaped = payloads(PAYLOAD_MODELS[event_type])
    if event_type == "session.status_changed":
        shaped = st.tuples(shaped, st.one_of(status_pairs, no_status)).map(
            lambda parts: (
                {**parts[0], **parts[1]}
                if "status" in parts[1] or "status_code" in parts[1]
                else {k: v for k, v in parts[0].items() if k not in ("status", "status_code")}
            )
        )
    return st.one_of(shaped, shaped, shaped, json_values)


@st.composite
def fuzzed_envelopes(draw: st.DrawFn, event_type: str, n: int) -> dict[str, Any]:
    doc = envelope(
        event_type,
        None,
        session_id="fz",
        at=T0 + timedelta(seconds=draw(st.integers(0, 900)), milliseconds=n),
        event_id=f"odd-{n:03d}",
        channel=draw(st.sampled_from(["voice", "chat", "Chat", "fax"])),
    )
    data = draw(data_for(event_type))
    if data is None and draw(st.booleans()):
        del doc["data"]
    else:
        doc["data"] = data
    if draw(st.booleans()):
        doc["sequence"] = draw(st.one_of(st.integers(-3, 50), st.sampled_from(["7", "x", 2.5])))
    if draw(st.booleans()):
        del doc["channel"]
    return doc


def base_session() -> list[dict[str, Any]]:
    s = SessionScript(session_id="fz")
    s.at(0).add("session.created", {"session_type": "Voice inbound", "lang": "en"})
    s.at(10).status("queued", 1, queue={"id": "q1", "name": "Billing"})
    s.at(20).status("assigned", 2, agent={"id": "a1", "name": "Noam B"})
    s.at(25).status("connected", 5)
    s.at(600).add("session.ended", {"final_status": "finished", "disconnected_by": "agent"})
    return s.docs


def check_session(docs: list[dict[str, Any]]) -> None:
    events = [parse_event(raw(doc)) for doc in docs]  # BadInput here fails the test
    files = render_files("fz", events, version=1, updated_at=WRITTEN, zone=UTC)
    metadata, datastream = (json.loads(body) for body in files.encoded())
    validate_metadata(metadata)
    assert [e.message for e in METADATA.iter_errors(metadata)] == []
    assert [e.message for e in DATASTREAM.iter_errors(datastream)] == []
    assert metadata["event_count"] == len(docs)
    sent = {doc["event_id"]: doc.get("data", {}) for doc in docs if doc["type"] in STREAM_TYPES}
    assert {item["event_id"]: item["data"] for item in datastream["events"]} == sent


SETTINGS = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
@SETTINGS
@given(data=st.data())
def test_any_shape_of_any_field_of_this_type_is_placed_and_fits_the_schemas(event_type, data):
    odd = [data.draw(fuzzed_envelopes(event_type, n), label=f"event {n}") for n in range(2)]
    check_session(base_session() + odd)


@settings(SETTINGS, max_examples=60)
@given(data=st.data())
def test_a_session_of_fuzzed_events_of_every_kind_fits_the_schemas(data):
    types_ = data.draw(st.lists(st.sampled_from(sorted(EVENT_TYPES)), min_size=1, max_size=10))
    odd = [data.draw(fuzzed_envelopes(t, n), label=f"event {n}") for n, t in enumerate(types_)]
    base = base_session() if data.draw(st.booleans(), label="with a base session") else []
    check_session(base + odd)


@settings(SETTINGS, max_examples=150)
@given(
    doc=st.fixed_dictionaries(
        {},
        optional={
            name: st.one_of(json_values, st.just(value))
            for name, value in envelope("session.csat", {"rating": 4}, sequence=1).items()
        },
    )
)
def test_any_envelope_is_placed_or_refused_with_a_reason_never_an_error(doc):
    from shared.domain.errors import BadInput

    try:
        event = parse_event(raw(doc))
    except BadInput as bad:
        assert bad.reason in {
            "not_json",
            "missing_field",
            "unsupported_spec",
            "unknown_type",
            "bad_timestamp",
            "invalid_field",
            "status_mismatch",
        }
    else:
        assert event.envelope() == doc
