"""JSON Schemas of the two files, generated from the models that describe them.

Consumers of the bucket validate against ``schemas/*.schema.json``; generating
them from the code (``SessionMetadata`` for the metadata file, the stream models
for the data stream) keeps the published contract and the writer from drifting
apart. Writing and checking the files on disk is the command line's job
(``sessionctl schema``); this module only computes them.

The data stream keeps each payload exactly as the platform sent it, so the
schema of an item's ``data`` cannot promise a type: it documents the fields the
platform's seed shows and what shape each normally has, and accepts what came.
"""

from __future__ import annotations

import json
import types
import typing
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from shared.domain.metadata import SessionMetadata
from shared.domain.shapes import Open
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


def _shape(annotation: Any) -> str:
    """The usual shape of a payload field, in words, for the schema's documentation."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _shape(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        words = [_shape(arg) for arg in typing.get_args(annotation) if arg is not type(None)]
        return " or ".join(dict.fromkeys(words))
    if annotation is str:
        return "text or a number"
    if annotation in (int, float):
        return "a number or text"
    if annotation is bool:
        return "true or false"
    if origin is dict or annotation is dict:
        return "an object"
    if origin is list or annotation is list:
        return "a list"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "an object"
    return "any JSON value"


def data_schema(payload: type[Open]) -> dict[str, Any]:
    """The documentation-only schema of a payload kept as sent: it describes, never refuses."""
    doc = " ".join((payload.__doc__ or "").split())
    return {
        "description": f"{doc} Kept exactly as sent: any shape is written as it came.".strip(),
        "properties": {
            field.alias or name: {"description": f"usually {_shape(field.annotation)}"}
            for name, field in payload.model_fields.items()
        },
    }


def _item_model(event_type: str, payload: type[Open]) -> type[DatastreamItem]:
    """``stream.call_started`` -> ``CallStartedEvent`` with ``type`` fixed and ``data`` described."""
    name = "".join(part.capitalize() for part in event_type.removeprefix("stream.").split("_"))
    return create_model(
        f"{name}Event",
        __base__=DatastreamItem,
        type=(Literal[event_type], ...),  # type: ignore[arg-type]  # a literal made at run time
        data=(Any, Field(json_schema_extra=data_schema(payload))),
    )


ITEM_MODELS = tuple(_item_model(t, m) for t, m in sorted(STREAM_PAYLOAD_MODELS.items()))
# A tagged union: a validator picks the item's model by ``type``.
StreamEvent = Annotated[Union[ITEM_MODELS], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007 (a union made at run time)


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
    """The committed form of a schema: indented JSON with a final newline."""
    return json.dumps(schema, ensure_ascii=False, indent=2) + "\n"
