"""JSON Schemas of the two files, generated from the models that describe them.

Consumers of the bucket validate against ``schemas/*.schema.json``; generating
them from the code (``SessionMetadata`` for the metadata file, the stream models
for the data stream) keeps the published contract and the writer from drifting
apart, and a unit test fails when the committed files are stale.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from shared.domain.events import Open
from shared.domain.metadata import SessionMetadata
from shared.domain.stream import STREAM_PAYLOAD_MODELS

DIALECT = "https://json-schema.org/draft/2020-12/schema"
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class DatastreamItem(BaseModel):
    """One ``stream.*`` event in the file; ``data`` is the payload exactly as the platform sent it."""

    model_config = ConfigDict(extra="forbid")

    event_id: str
    name: str
    occurred_at: Timestamp
    sequence: int | None


def _item_model(event_type: str, payload: type[Open]) -> type[DatastreamItem]:
    """``stream.call_started`` -> ``CallStartedEvent`` with ``type`` fixed and ``data`` typed."""
    name = "".join(part.capitalize() for part in event_type.removeprefix("stream.").split("_"))
    return create_model(
        f"{name}Event",
        __base__=DatastreamItem,
        type=(Literal[event_type], ...),
        data=(payload, ...),
    )


ITEM_MODELS = tuple(_item_model(t, m) for t, m in sorted(STREAM_PAYLOAD_MODELS.items()))
# A tagged union: a validator picks the payload model by ``type``, and each payload model
# keeps ``additionalProperties: true`` with every field optional, so it stays permissive.
StreamEvent = Annotated[Union[ITEM_MODELS], Field(discriminator="type")]  # noqa: UP007 (run time)


class DatastreamFile(BaseModel):
    """``datastream-{id}.json``: the session's ``stream.*`` events, in order (``build_datastream``)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    updated_at: Timestamp
    version: int = Field(ge=1)
    events: list[StreamEvent]


MODELS: dict[str, type[BaseModel]] = {
    "metadata.schema.json": SessionMetadata,
    "datastream.schema.json": DatastreamFile,
}


def schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema (draft 2020-12) of every file the pipeline writes."""
    return {
        name: {"$schema": DIALECT, **model.model_json_schema()} for name, model in MODELS.items()
    }


def encode(schema: dict[str, Any]) -> str:
    return json.dumps(schema, ensure_ascii=False, indent=2) + "\n"


def write_schemas(out_dir: Path) -> list[Path]:
    """Write the schemas under ``out_dir``; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        path = out_dir / name
        path.write_text(encode(schema), encoding="utf-8")
        written.append(path)
    return written


def stale_schemas(out_dir: Path) -> list[Path]:
    """The schema files under ``out_dir`` that are missing or differ from the models."""
    stale = []
    for name, schema in schemas().items():
        path = out_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != encode(schema):
            stale.append(path)
    return stale


def main(argv: list[str] | None = None) -> int:
    """``sessionctl schema``: write the schemas, or with ``--check`` fail when they are stale."""
    parser = argparse.ArgumentParser(prog="sessionctl schema", description=__doc__)
    parser.add_argument("--out", default="schemas", help="directory of the schema files")
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_schemas(Path(args.out))
        for path in stale:
            print(f"stale: {path} (run: sessionctl schema --out {args.out})")
        return 1 if stale else 0
    for path in write_schemas(Path(args.out)):
        print(path)
    return 0
