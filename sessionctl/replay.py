"""``sessionctl replay``: the deployed pipeline's files, computed without any emulator.

Reads envelopes (one per line, in file order, duplicates and shuffles as they
come), lets each event arrive when it occurred, and writes the files every
session has by ``now``: the same reducer, schedule and renderer as the cloud.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from shared.config import Settings
from shared.domain.errors import BadInput
from shared.domain.events import Event, parse_event
from shared.domain.files import SessionFiles, datastream_name, encode, metadata_name, render_files
from shared.domain.schedule import simulate_writes


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str
    detail: str


def read_events(lines: Iterable[bytes]) -> Iterator[Event | BadLine]:
    for number, raw in enumerate(lines, start=1):
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark some editors add
        if not raw.strip():
            continue
        try:
            yield parse_event(raw.rstrip(b"\r\n"))
        except BadInput as bad:
            yield BadLine(number, bad.reason, bad.detail)


def replay(
    events: Iterable[Event], *, now: datetime, settings: Settings, delay: timedelta | None = None
) -> list[SessionFiles]:
    """The latest files of every session written by ``now``, by session id."""
    by_session: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_session[event.session_id].append(event)
    out = []
    for session_id in sorted(by_session):
        writes = simulate_writes(
            by_session[session_id],
            now=now,
            delay=settings.finalize_delay if delay is None else delay,
            stuck_timeout=settings.stuck_timeout,
        )
        if writes:
            last = writes[-1]
            out.append(
                render_files(
                    session_id,
                    last.events,
                    version=last.version,
                    updated_at=last.at,
                    zone=settings.zone,
                    include_end_user_contact=settings.include_end_user_contact,
                )
            )
    return out


def write_files(rendered: Iterable[SessionFiles], out_dir: Path, prefix: str) -> list[Path]:
    written = []
    for files in rendered:
        for name, doc in (
            (metadata_name(prefix, files.session_id), files.metadata),
            (datastream_name(prefix, files.session_id), files.datastream),
        ):
            path = out_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(encode(doc))
            written.append(path)
    return written


def run(
    source: Path,
    out_dir: Path,
    *,
    now: datetime,
    settings: Settings,
    delay: timedelta | None,
    stderr: TextIO | None = None,
) -> int:
    stderr = stderr or sys.stderr
    events: list[Event] = []
    with source.open("rb") as handle:
        for item in read_events(handle):
            if isinstance(item, BadLine):
                print(f"{source}:{item.line}: {item.reason}: {item.detail}", file=stderr)
            else:
                events.append(item)
    rendered = replay(events, now=now, settings=settings, delay=delay)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = write_files(rendered, out_dir, settings.object_prefix)
    except OSError as exc:
        print(f"cannot write to {out_dir}: {exc}", file=stderr)
        return 1
    print(f"{len(rendered)} sessions due at {now.isoformat()}: {len(paths)} files in {out_dir}")
    return 0
