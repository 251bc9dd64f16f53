"""The report's edges: read the files from a folder or a bucket, write the pages to a folder."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from sessionctl.report.model import DEFAULT_FINALIZE_DELAY, Report, build_model
from sessionctl.report.render import render_index, render_session
from shared.domain.card import SessionCard

FILE_PATTERNS = ("metadata-*.json", "datastream-*.json")


class ReportError(RuntimeError):
    """The report cannot be made as asked (one line, naming what to fix)."""


def read_folder(folder: Path) -> dict[str, Any]:
    """Every session file under ``folder`` (any depth, as a prefix makes), parsed."""
    if not folder.is_dir():
        raise ReportError(f"{folder} is not a folder of session files")
    files: dict[str, Any] = {}
    for pattern in FILE_PATTERNS:
        for path in sorted(folder.rglob(pattern)):
            name = path.relative_to(folder).as_posix()
            try:
                files[name] = json.loads(path.read_bytes())
            except (OSError, ValueError) as exc:
                files[name] = f"unreadable: {exc}"
    return files


def read_bucket(file_store) -> dict[str, Any]:
    """Every session file in the stack's bucket (``file_store``: ``names()`` and ``read()``)."""
    files: dict[str, Any] = {}
    for name in file_store.names():
        base = name.rsplit("/", 1)[-1]
        if base.startswith(("metadata-", "datastream-")) and base.endswith(".json"):
            try:
                files[name] = json.loads(file_store.read(name).data)
            except ValueError as exc:
                files[name] = f"unreadable: {exc}"
    return files


def write_files(files: dict[str, Any], folder: Path) -> list[Path]:
    """Copy session files (as read from a bucket) into ``folder``, keeping their names."""
    written = []
    for name, doc in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


def live_cards(events: Iterable[Any], *, now: datetime, zone: tzinfo) -> list[SessionCard]:
    """The card of every session in ``events`` (parsed events), as it stands at ``now``."""
    from shared.domain.card import build_card
    from shared.domain.session import reduce_session

    by_session: dict[str, list[Any]] = {}
    for event in events:
        by_session.setdefault(event.session_id, []).append(event)
    return [
        build_card(reduce_session(sid, evs), now=now, zone=zone)
        for sid, evs in sorted(by_session.items())
    ]


def parse_lines(lines: Iterable[bytes]) -> list[Any]:
    """The good events among JSONL lines (bad lines are the replay's business, not the report's)."""
    from shared.domain.errors import BadInput
    from shared.domain.events import parse_event

    events = []
    for raw in lines:
        raw = raw.removeprefix(b"\xef\xbb\xbf").strip()
        if raw:
            try:
                events.append(parse_event(raw))
            except BadInput:
                continue
    return events


def read_event_log(path: Path) -> list[Any]:
    """The good events of a JSONL log."""
    with path.open("rb") as handle:
        return parse_lines(handle)


def build_report(
    files: dict[str, Any],
    out_dir: Path,
    *,
    finalize_delay: timedelta = DEFAULT_FINALIZE_DELAY,
    source: str = "",
    progress: Callable[[int, int], None] | None = None,
    live: Iterable[SessionCard] = (),
) -> tuple[Path, Report]:
    """Write ``index.html`` and ``sessions/<id>.html`` under ``out_dir``; the index's path."""
    report = build_model(files, finalize_delay=finalize_delay, live=live)
    pages = out_dir / "sessions"
    if pages.exists():
        shutil.rmtree(pages)  # a session gone from the source must not linger in the report
    pages.mkdir(parents=True, exist_ok=True)
    total = len(report.sessions)
    for done, view in enumerate(report.sessions, start=1):
        (pages / f"{view.slug}.html").write_text(render_session(view), encoding="utf-8")
        if progress:
            progress(done, total)
    index = out_dir / "index.html"
    index.write_text(render_index(report, source=source), encoding="utf-8")
    return index, report
