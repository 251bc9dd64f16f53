"""Session files -> what the report shows: cards (seed 003) and timelines drawn to scale.

Pure: dictionaries in, dataclasses out. Every key is read defensively (a key
may be missing from an older file or added by a newer one): a missing value
leaves its part of the picture out, never fails the report.

What the files say and what they do not:

- The card's colour follows ``shared.domain.card``: a file is written only
  once a session has ended, so a file's session is ``white`` (the customer
  ended it and no wrap-up code was set) or ``gray``. A session finalized with
  no end event (``fail_reason: no_end_event``) is ``gray``: the system closed it.
- The timeline's segments come from the file's times: IVR/menu from
  ``created_at`` to ``queued_at``; the queue wait to ``assigned_at``; one
  segment per participant (``joined_at``/``left_at``); transfers from
  ``created_at`` to ``updated_at``; wrap-up from ``ends_at`` to the end of
  handling (``assigned_at`` + handle time); the end; every data-stream item.
- Holds: the file gives each interaction's total (``hold_durations``), not
  when the holds were. Each total is drawn to scale at the start of its
  interaction and marked ``approximate`` (its position is not known).
- After the end: version 1 is due ``finalize_delay`` after the end; a later
  version means late events, the last one ``finalize_delay`` before it was
  written. Data-stream items after the end are drawn there: "after the end" when
  version 1 carried them, "late" when they came after it was due.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.domain.card import ENDED_BY, MEANINGS, SessionCard

COLOUR_WORDS = {"blue": "Active", "white": "Abandoned", "gray": "Inactive"}
SEGMENT_KINDS = (
    "ivr",
    "queue",
    "agent",
    "hold",
    "transfer",
    "end",
    "wrapup",
    "message",
    "stream",
)
LANES = {
    "ivr": "IVR / menu",
    "queue": "Queue",
    "agent": "Agents",
    "hold": "Hold",
    "transfer": "Transfers",
    "wrapup": "Wrap-up",
    "end": "End",
    "message": "Messages",
    "stream": "Data stream",
}
DEFAULT_FINALIZE_DELAY = timedelta(minutes=15)


@dataclass(frozen=True)
class Segment:
    """One thing on a timeline: a span (``end`` later than ``start``) or a point."""

    kind: str
    label: str
    start: datetime
    end: datetime
    approximate: bool = False
    detail: str = ""

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def is_point(self) -> bool:
        return self.end <= self.start


@dataclass(frozen=True)
class StreamItem:
    at: datetime | None
    name: str
    event_id: str
    data: Any
    after_end: bool  # occurred after the session ended (post-call work, links)
    late: bool  # occurred after version 1 was due: it came with a rewrite


@dataclass
class SessionView:
    session_id: str
    slug: str
    colour: str
    colour_word: str
    meaning: str
    title: str
    icon: str  # call | chat
    session_type: str | None
    duration_seconds: int | None
    queue: str | None
    agent: str | None
    status: str
    wrap_up_code: str | None
    version: int | None
    updated_at: datetime | None
    started: datetime | None
    ended: datetime | None
    segments: list[Segment] = field(default_factory=list)
    after_end: list[Segment] = field(default_factory=list)
    stream: list[StreamItem] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    has_file: bool = True

    @property
    def span(self) -> tuple[datetime, datetime] | None:
        """The drawn window of the main timeline."""
        times = [t for s in self.segments for t in (s.start, s.end)]
        return (min(times), max(times)) if times else None

    @property
    def after_span(self) -> tuple[datetime, datetime] | None:
        times = [t for s in self.after_end for t in (s.start, s.end)]
        return (min(times), max(times)) if times else None


@dataclass
class Report:
    sessions: list[SessionView]
    problems: list[str] = field(default_factory=list)

    def choices(self, attribute: str) -> list[str]:
        return sorted({str(getattr(s, attribute)) for s in self.sessions if getattr(s, attribute)})


def build_model(
    files: dict[str, Any],
    *,
    finalize_delay: timedelta = DEFAULT_FINALIZE_DELAY,
    live: Iterable[SessionCard] = (),
) -> Report:
    """``files``: file name -> parsed JSON (names as written: ``[prefix]metadata-{id}.json``).

    ``live``: cards (``shared.domain.card``) of sessions known from their events; those
    with no file yet (still active, or ended and waiting for their delay) are shown too.
    """
    metadata: dict[str, dict] = {}
    streams: dict[str, dict] = {}
    problems: list[str] = []
    for name, doc in sorted(files.items()):
        base = name.rsplit("/", 1)[-1]
        if not isinstance(doc, dict):
            problems.append(f"{name}: not a JSON object")
            continue
        if base.startswith("metadata-") and base.endswith(".json"):
            metadata[str(doc.get("id") or base[len("metadata-") : -5])] = doc
        elif base.startswith("datastream-") and base.endswith(".json"):
            streams[str(doc.get("id") or base[len("datastream-") : -5])] = doc
    for orphan in sorted(set(streams) - set(metadata)):
        problems.append(f"datastream-{orphan}.json has no metadata file")
    views = [
        session_view(doc, streams.get(sid), finalize_delay=finalize_delay)
        for sid, doc in metadata.items()
    ]
    views += [live_view(card, finalize_delay) for card in live if card.session_id not in metadata]
    seen: set[str] = set()
    for view in sorted(views, key=lambda v: v.session_id):
        base, n = view.slug, 1
        while view.slug in seen:
            n += 1
            view.slug = f"{base}-{n}"
        seen.add(view.slug)
    views.sort(
        key=lambda v: (v.started is None, v.started.timestamp() if v.started else 0, v.session_id)
    )
    return Report(sessions=views, problems=problems)


def session_view(
    doc: dict[str, Any],
    stream_doc: dict[str, Any] | None,
    *,
    finalize_delay: timedelta = DEFAULT_FINALIZE_DELAY,
) -> SessionView:
    sid = str(doc.get("id") or "?")
    warnings: list[str] = []
    created, ends = _time(doc, "created_at"), _time(doc, "ends_at")
    code = _get(doc, "disposition", "code")
    colour = _colour(doc, code)
    meaning = MEANINGS["gray_no_code" if colour == "gray" and code is None else colour]
    session_type = doc.get("call_type") or doc.get("chat_type")
    icon = "chat" if (doc.get("channel") == "chat" or doc.get("chat_type")) else "call"
    items = _stream_items(stream_doc, ends, finalize_delay)
    segments = _segments(doc, items, warnings)
    started = created or (min(s.start for s in segments) if segments else None)
    # A session closed by the stuck timeout has no end: its card runs to the last thing known.
    end_of_card = ends or (max(s.end for s in segments) if segments else None)
    view = SessionView(
        session_id=sid,
        slug=slug(sid),
        colour=colour,
        colour_word=COLOUR_WORDS[colour],
        meaning=meaning,
        title=f"{session_type or icon.capitalize()} {sid}",
        icon=icon,
        session_type=session_type,
        duration_seconds=_whole(started, end_of_card),
        queue=_get(doc, "queue", "name"),
        agent=_get(doc, "agent_info", "name"),
        status=code or _status(doc),
        wrap_up_code=code,
        version=doc.get("version") if isinstance(doc.get("version"), int) else None,
        updated_at=_time(doc, "updated_at"),
        started=started,
        ended=ends,
        segments=segments,
        after_end=_after_end(doc, items, finalize_delay),
        stream=items,
        facts=_facts(doc),
        warnings=warnings,
        metadata=doc,
    )
    if stream_doc is None:
        view.warnings.append("no datastream file beside this metadata file")
    elif stream_doc.get("version") != doc.get("version"):
        view.warnings.append(
            f"datastream version {stream_doc.get('version')} differs from "
            f"metadata version {doc.get('version')}"
        )
    return view


def live_view(card: SessionCard, finalize_delay: timedelta = DEFAULT_FINALIZE_DELAY) -> SessionView:
    """A session with no file yet, from its live card: its journey steps as the timeline."""
    segments: list[Segment] = []
    steps = card.journey
    for step, following in zip(steps, [*steps[1:], None], strict=True):
        if step.step == "ended":
            segments.append(Segment("end", step.label, step.at, step.at))
            continue
        until = following.at if following else None
        kind = "queue" if step.step == "routed" else "agent"
        label = step.label if kind == "queue" else (card.agent or step.label)
        if until and until > step.at:
            segments.append(Segment(kind, label, step.at, until))
        else:
            segments.append(Segment(kind, f"{label} (still)", step.at, step.at))
    ended = steps[-1].at if steps and steps[-1].step == "ended" else None
    note = (
        "no file yet: the session is still in progress"
        if card.colour == "blue"
        else "no file yet: the session ended and its file is written a finalize delay after "
        f"the end (at {(ended + finalize_delay):%H:%M:%S})"
        if ended
        else "no file yet"
    )
    return SessionView(
        session_id=card.session_id,
        slug=slug(card.session_id),
        colour=card.colour,
        colour_word=COLOUR_WORDS[card.colour],
        meaning=card.meaning,
        title=card.title,
        icon=card.icon,
        session_type=card.title.rsplit(" ", 1)[0] if " " in card.title else None,
        duration_seconds=card.duration_seconds,
        queue=card.queue,
        agent=card.agent,
        status=card.status,
        wrap_up_code=card.wrap_up_code,
        version=None,
        updated_at=None,
        started=steps[0].at if steps else None,
        ended=ended,
        segments=segments,
        warnings=[note + "; drawn from its journey steps (live events)"],
        has_file=False,
    )


def slug(session_id: str) -> str:
    """A file name for the session's page: the id where it is safe, else a safe spelling."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", session_id).strip(".") or "session"
    return safe[:100]


# -- card ---------------------------------------------------------------------------------


def _colour(doc: dict[str, Any], code: str | None) -> str:
    """White or gray: a file exists only once its session has ended (or was closed as stuck)."""
    if code is None and doc.get("disconnected_by") == "end_user":
        return "white"
    return "gray"


def _status(doc: dict[str, Any]) -> str:
    if doc.get("fail_reason") == "no_end_event":
        return "failed (no end event)"
    who = ENDED_BY.get(doc.get("disconnected_by") or "")
    text = f"ended by {who}" if who else "ended"
    final = doc.get("status")
    return text if final in (None, "finished") else f"{text} ({final})"


# -- timeline -----------------------------------------------------------------------------


def _segments(doc: dict[str, Any], items: list[StreamItem], warnings: list[str]) -> list[Segment]:
    created, queued = _time(doc, "created_at"), _time(doc, "queued_at")
    assigned, connected = _time(doc, "assigned_at"), _time(doc, "connected_at")
    ends = _time(doc, "ends_at")
    last = ends or _latest(doc, items)
    out: list[Segment] = []

    # IVR / menu: from creation to the queue (else to the first of assigned, connected, end).
    menu = doc.get("menu_path") if isinstance(doc.get("menu_path"), dict) else {}
    menu_name = menu.get("name") or _get(doc, "selected_menu", "name")
    path = menu.get("materialized_path") or menu.get("id")
    first_after = _first(queued, assigned, connected, last)
    if created and first_after and first_after > created:
        label = f"IVR / menu: {menu_name}" if menu_name else "before the queue"
        out.append(
            Segment("ivr", label, created, first_after, detail=f"menu path {path}" if path else "")
        )

    # The first queue wait (wait_duration), then each transfer's own wait.
    if queued:
        wait = doc.get("wait_duration")
        wait_end = _first_at_or_after(queued, assigned) or last
        # The file's own measure of the wait (whole seconds) wins unless an exact end matches it.
        measured = isinstance(wait, int | float) and not isinstance(wait, bool)
        if measured and (not wait_end or abs((wait_end - queued).total_seconds() - wait) > 1):
            wait_end = queued + timedelta(seconds=wait)
        if wait_end and wait_end >= queued:
            queue = _get(doc, "queue", "name")
            out.append(
                Segment(
                    "queue", f"waiting in queue{f' {queue}' if queue else ''}", queued, wait_end
                )
            )

    # Agents and virtual agents, one segment per join.
    participants = [p for p in _list(doc, "participants") if isinstance(p, dict)]
    people = [p for p in participants if (p.get("type") or "agent") not in ("end_user", "customer")]
    for p in people:
        joined = _parse(p.get("joined_at"))
        if not joined:
            continue
        left = _parse(p.get("left_at")) or last or joined
        kind = p.get("type") or "agent"
        who = p.get("name") or p.get("id") or kind
        label = f"{who}" if kind == "agent" else f"{who} ({kind.replace('_', ' ')})"
        out.append(Segment("agent", label, joined, max(left, joined)))
    if not people and (connected or assigned):
        start = connected or assigned
        agent = _get(doc, "agent_info", "name") or (
            "virtual agent" if doc.get("answer_type") == "virtual" else "agent"
        )
        if start and last and last > start:
            out.append(Segment("agent", str(agent), start, last))

    # Transfers: from their first to their last event.
    transfers = [t for t in _list(doc, "transfers") if isinstance(t, dict)]
    for t in transfers:
        begin, finish = _parse(t.get("created_at")), _parse(t.get("updated_at"))
        if not begin:
            continue
        status = t.get("status") or "started"
        label = f"transfer {status}: {_end_text(t.get('from'))} → {_end_text(t.get('to'))}"
        if t.get("fail_reason"):
            label += f" ({t['fail_reason']})"
        out.append(Segment("transfer", label, begin, max(finish or begin, begin)))

    # Holds: each interaction's total, placed at the start of the interaction (approximate).
    holds = [h for h in _list(doc, "hold_durations") if isinstance(h, int | float) and h > 0]
    if holds:
        starts = _interaction_starts(connected or assigned, transfers)
        for index, total in enumerate(holds):
            at = starts[index] if index < len(starts) else None
            if at is None:
                warnings.append(f"hold of {total} s in interaction {index + 1}: no start known")
                continue
            out.append(
                Segment(
                    "hold",
                    f"on hold {total} s (interaction {index + 1})",
                    at,
                    at + timedelta(seconds=total),
                    approximate=True,
                    detail="the file gives each interaction's total hold time, not when it was",
                )
            )

    # Wrap-up: from the end to the end of handling, when handling ran past the end.
    handle = (
        doc.get("call_duration")
        if doc.get("call_duration") is not None
        else doc.get("chat_duration")
    )
    handle_start = assigned
    if ends and handle_start and isinstance(handle, int | float):
        handle_end = handle_start + timedelta(seconds=handle)
        if handle_end > ends + timedelta(seconds=0.5):
            code = _get(doc, "disposition", "code")
            out.append(
                Segment(
                    "wrapup",
                    f"wrap-up{f' ({code})' if code else ''}",
                    ends,
                    handle_end,
                    detail="from the end to the end of handling (handle time)",
                )
            )

    # The end.
    if ends:
        who = doc.get("disconnected_by")
        label = (
            "abandoned by customer"
            if who == "end_user"
            else (f"ended by {ENDED_BY[who]}" if who in ENDED_BY else "ended")
        )
        out.append(Segment("end", label, ends, ends))
    elif doc.get("fail_reason") == "no_end_event":
        warnings.append("no end event: the session was closed as failed by the stuck timeout")

    # Chat messages: each one when the transcript is on, else the first and the last.
    transcript = [m for m in _list(doc, "transcript") if isinstance(m, dict)]
    timed = [(m, _parse(m.get("sent_at"))) for m in transcript]
    if any(t for _, t in timed):
        for message, sent in timed:
            if sent:
                who = str(message.get("sender") or "?").replace("_", " ")
                out.append(
                    Segment("message", who, sent, sent, detail=str(message.get("text") or ""))
                )
    else:
        for key, label in (
            ("first_msg_sent_at", "first message"),
            ("last_msg_sent_at", "last message"),
        ):
            sent = _time(doc, key)
            if sent and not (key == "last_msg_sent_at" and sent == _time(doc, "first_msg_sent_at")):
                out.append(Segment("message", label, sent, sent))

    # The data stream's items during the session (late ones go after the end).
    for item in items:
        if item.at and not item.after_end:
            out.append(Segment("stream", item.name, item.at, item.at, detail=item.event_id))
    out.sort(key=lambda s: (s.start, SEGMENT_KINDS.index(s.kind), s.end))
    return out


def _after_end(doc: dict[str, Any], items: list[StreamItem], delay: timedelta) -> list[Segment]:
    ends, updated = _time(doc, "ends_at"), _time(doc, "updated_at")
    version = doc.get("version") if isinstance(doc.get("version"), int) else None
    if not ends or not updated:
        return []
    out = [Segment("end", "end", ends, ends)]
    for item in items:
        if item.after_end and item.at:
            label = f"{'late: ' if item.late else 'after the end: '}{item.name}"
            out.append(Segment("stream", label, item.at, item.at, detail=item.event_id))
    if version and version > 1:
        out.append(
            Segment(
                "version",
                "version 1 written (due 15 min after the end)"
                if delay == DEFAULT_FINALIZE_DELAY
                else "version 1 written (due after the finalize delay)",
                ends + delay,
                ends + delay,
                approximate=True,
            )
        )
        last_late = updated - delay
        if last_late > ends:
            out.append(
                Segment(
                    "late",
                    "last late event (the rewrite is due a finalize delay after it)",
                    last_late,
                    last_late,
                    approximate=True,
                )
            )
    out.append(
        Segment("version", f"version {version or '?'} written (this file)", updated, updated)
    )
    out.sort(key=lambda s: (s.start, s.kind))
    return out


def _interaction_starts(first: datetime | None, transfers: list[dict]) -> list[datetime | None]:
    """Each interaction's start: the first connection, then each completed transfer's end."""
    starts: list[datetime | None] = [first]
    for t in transfers:
        if t.get("status") == "completed":
            starts.append(_parse(t.get("updated_at")))
    return starts


def _end_text(end: Any) -> str:
    if isinstance(end, dict):
        parts = [f"{k} {v}" for k, v in end.items() if v not in (None, "", [], {})]
        return ", ".join(parts) or "?"
    return str(end) if end not in (None, "") else "?"


# -- data stream --------------------------------------------------------------------------


def _stream_items(
    stream_doc: dict[str, Any] | None, ends: datetime | None, delay: timedelta
) -> list[StreamItem]:
    if not isinstance(stream_doc, dict):
        return []
    items = []
    for raw in stream_doc.get("events") or []:
        if not isinstance(raw, dict):
            continue
        at = _parse(raw.get("occurred_at"))
        name = raw.get("name") or str(raw.get("type") or "?").removeprefix("stream.")
        items.append(
            StreamItem(
                at=at,
                name=str(name),
                event_id=str(raw.get("event_id") or ""),
                data=raw.get("data"),
                after_end=bool(at and ends and at > ends),
                late=bool(at and ends and at > ends + delay),
            )
        )
    return items


# -- facts --------------------------------------------------------------------------------

FACT_KEYS = (
    ("channel", "Channel"),
    ("lang", "Language"),
    ("status", "Final status"),
    ("answer_type", "Answered by"),
    ("wait_duration", "Wait (s)"),
    ("call_duration", "Handle time (s)"),
    ("chat_duration", "Handle time (s)"),
    ("hold_duration", "Hold (s)"),
    ("rating", "CSAT rating"),
    ("comment", "CSAT comment"),
    ("recording_url", "Recording"),
    ("out_ticket_id", "CRM record"),
    ("deflection", "Deflection"),
    ("message_count", "Messages"),
    ("photos", "Photos"),
    ("videos", "Videos"),
    ("event_count", "Events"),
    ("version", "Version"),
    ("updated_at", "Written at"),
)


def _facts(doc: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    menu = doc.get("menu_path")
    if isinstance(menu, dict):
        path = menu.get("materialized_path") or menu.get("id")
        out.append(("Menu", " / ".join(str(x) for x in (menu.get("name"), path) if x)))
    for key, label in FACT_KEYS:
        value = doc.get(key)
        if value not in (None, "", [], {}):
            out.append((label, str(value)))
    return out


# -- helpers ------------------------------------------------------------------------------


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _time(doc: dict[str, Any], key: str) -> datetime | None:
    return _parse(doc.get(key))


def _get(doc: dict[str, Any], key: str, inner: str) -> Any:
    value = doc.get(key)
    return value.get(inner) if isinstance(value, dict) else None


def _list(doc: dict[str, Any], key: str) -> list:
    value = doc.get(key)
    return value if isinstance(value, list) else []


def _first(*values: datetime | None) -> datetime | None:
    for value in values:
        if value is not None:
            return value
    return None


def _first_at_or_after(start: datetime, *values: datetime | None) -> datetime | None:
    later = [v for v in values if v is not None and v >= start]
    return min(later) if later else None


def _latest(doc: dict[str, Any], items: list[StreamItem]) -> datetime | None:
    times = [_time(doc, k) for k in ("created_at", "queued_at", "assigned_at", "connected_at")]
    times += [i.at for i in items]
    known = [t for t in times if t]
    return max(known) if known else None


def _whole(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, int((end - start).total_seconds() + 0.5))
