"""The two files of a session, rendered from its events: names, content, content hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import orjson

from shared.domain.events import Event
from shared.domain.metadata import build_metadata, fmt
from shared.domain.session import SessionState, reduce_session


def metadata_name(prefix: str, session_id: str) -> str:
    return f"{prefix}metadata-{session_id}.json"


def datastream_name(prefix: str, session_id: str) -> str:
    return f"{prefix}datastream-{session_id}.json"


@dataclass(frozen=True)
class SessionFiles:
    session_id: str
    version: int
    metadata: dict[str, Any]
    datastream: dict[str, Any]
    content_hash: str  # of everything but updated_at and version: equal hash, nothing new to write

    def encoded(self) -> tuple[bytes, bytes]:
        return encode(self.metadata), encode(self.datastream)


def encode(doc: dict[str, Any]) -> bytes:
    """UTF-8 JSON, indented for people; orjson for speed, the stdlib for what it refuses."""
    try:
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    except TypeError:  # e.g. an integer wider than 64 bits in a payload
        return json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8")


def build_datastream(
    state: SessionState, *, updated_at: datetime, version: int, zone: tzinfo
) -> dict[str, Any]:
    """``datastream-{id}.json``: the session's ``stream.*`` events, in order, as sent."""
    return {
        "id": state.session_id,
        "updated_at": fmt(updated_at, zone),
        "version": version,
        "events": [
            {
                "event_id": e.event_id,
                "type": e.type,
                "name": e.type.removeprefix("stream."),
                "occurred_at": fmt(e.occurred_at, zone),
                "sequence": e.sequence,
                "data": e.data,
            }
            for e in state.stream
        ],
    }


def render_files(
    session_id: str,
    events: Iterable[Event],
    *,
    version: int,
    updated_at: datetime,
    zone: tzinfo,
    include_end_user_contact: bool = False,
    include_transcript: bool = False,
    ticket: tuple[str | None, str | None] = (None, None),
) -> SessionFiles:
    state = reduce_session(session_id, events)
    metadata = build_metadata(
        state,
        updated_at=updated_at,
        version=version,
        zone=zone,
        include_end_user_contact=include_end_user_contact,
        include_transcript=include_transcript,
        ticket=ticket,
    )
    datastream = build_datastream(state, updated_at=updated_at, version=version, zone=zone)
    return SessionFiles(
        session_id=session_id,
        version=version,
        metadata=metadata,
        datastream=datastream,
        content_hash=content_hash(metadata, datastream),
    )


def content_hash(metadata: dict[str, Any], datastream: dict[str, Any]) -> str:
    volatile = {"updated_at", "version"}
    stable = {
        "metadata": {k: v for k, v in metadata.items() if k not in volatile},
        "datastream": datastream["events"],
    }
    try:
        raw = orjson.dumps(stable, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        raw = json.dumps(stable, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(raw).hexdigest()
