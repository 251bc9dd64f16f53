"""``sessionctl replay``: the deployed pipeline's files, computed without any emulator.

Reads envelopes (one per line, in file order, duplicates and shuffles as they
come), lets each event arrive when it occurred, and writes the files every
session has by ``now``: the same reducer, schedule and renderer as the cloud.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
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


@dataclass(frozen=True)
class Placed:
    line: int
    event: Event


def read_events(lines: Iterable[bytes]) -> Iterator[Placed | BadLine]:
    for number, raw in enumerate(lines, start=1):
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark some editors add
        if not raw.strip():
            continue
        try:
            yield Placed(number, parse_event(raw.rstrip(b"\r\n")))
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
                    include_transcript=settings.include_transcript,
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


def _reporting(
    handle, size: int, progress: Callable[[int, int], None], every: int = 2000
) -> Iterator[bytes]:
    for number, line in enumerate(handle, start=1):
        if number % every == 0:
            progress(handle.tell(), size)
        yield line
    progress(size, size)


def run(
    source: Path,
    out_dir: Path,
    *,
    now: datetime,
    settings: Settings,
    delay: timedelta | None,
    stderr: TextIO | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """``progress(bytes read, bytes in all)`` while the log is read (a big log takes seconds)."""
    stderr = stderr or sys.stderr
    events: list[Event] = []
    left_out = 0
    size = source.stat().st_size
    with source.open("rb") as handle:
        lines: Iterable[bytes] = handle
        if progress:
            lines = _reporting(handle, size, progress)
        for item in read_events(lines):
            if isinstance(item, BadLine):
                print(f"{source}:{item.line}: {item.reason}: {item.detail}", file=stderr)
                continue
            event = item.event
            events.append(event)
            for issue in event.issues:
                left_out += 1
                print(
                    f"{source}:{item.line}: warning: session {event.session_id} event "
                    f"{event.event_id}: {issue} (left out of the file; the event is applied)",
                    file=stderr,
                )
    rendered = replay(events, now=now, settings=settings, delay=delay)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = write_files(rendered, out_dir, settings.object_prefix)
    except OSError as exc:
        print(f"cannot write to {out_dir}: {exc}", file=stderr)
        return 1
    summary = f"{len(rendered)} sessions due at {now.isoformat()}: {len(paths)} files in {out_dir}"
    if left_out:
        summary += f" ({left_out} field(s) of an unexpected shape left out, see stderr)"
    print(summary)
    return 0
