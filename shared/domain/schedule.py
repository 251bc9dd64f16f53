"""When a session's files are due, and how events and writes move that time.

The session document in the store holds only this schedule (the events live
apart), so that most events never write to it: only the first event of a
session, its end, and a late event (one that comes once writing has begun)
change it. The same functions drive ``simulate_writes``, which replays a whole
history without any store.

A session with no end is due ``stuck_timeout`` after its earliest event. Events
come shuffled, so the first one stored may not be the earliest: rather than
rewrite the schedule for every earlier event, the first event sets a provisional
due time ``STUCK_SLACK`` early, and the finalizer, which reads all the events
anyway, defers the session to the exact time when it gets there first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.domain.events import Event

# How much earlier than the first stored event the real first event may be.
STUCK_SLACK = timedelta(hours=1)


@dataclass(frozen=True)
class Schedule:
    first_at: datetime  # occurred_at of the first event stored
    due_at: datetime  # when the next write is due, if pending
    pending: bool = True  # a write is owed
    end_at: datetime | None = None  # occurred_at of the last session.ended
    version: int = 0  # versions written so far
    late_seq: int = 0  # bumped by each event that comes once writing has begun

    @property
    def awaits_stuck_timeout(self) -> bool:
        """Never written and never ended: due only through the stuck-session rule."""
        return self.version == 0 and self.end_at is None


def after_event(
    current: Schedule | None,
    *,
    occurred_at: datetime,
    is_end: bool,
    writing: bool,
    delay: timedelta,
    stuck_timeout: timedelta,
) -> Schedule | None:
    """The schedule once this event is stored, or ``None`` when it is unchanged.

    ``writing`` says that a finalizer has claimed or written the session: the
    event may miss that write, so it owes a rewrite 15 minutes after the event.
    """
    if current is None:
        if is_end:
            return Schedule(first_at=occurred_at, due_at=occurred_at + delay, end_at=occurred_at)
        return Schedule(first_at=occurred_at, due_at=occurred_at + stuck_timeout - STUCK_SLACK)
    if writing:
        due = occurred_at + delay
        if current.pending:
            due = max(due, current.due_at)
        end_at = current.end_at
        if is_end and (end_at is None or occurred_at > end_at):
            end_at = occurred_at
        return replace(
            current,
            first_at=min(current.first_at, occurred_at),
            end_at=end_at,
            due_at=due,
            pending=True,
            late_seq=current.late_seq + 1,
        )
    if is_end and (current.end_at is None or occurred_at > current.end_at):
        # The last session.ended is the one the file reports: the 15 minutes run from it.
        return replace(current, end_at=occurred_at, due_at=occurred_at + delay)
    return None


def stuck_due(events: Sequence[Event], stuck_timeout: timedelta) -> datetime:
    """The exact stuck-session due time: ``stuck_timeout`` after the earliest event."""
    return min(e.occurred_at for e in events) + stuck_timeout


def after_write(current: Schedule, *, version: int, late_seq_seen: int) -> Schedule:
    """The schedule once ``version`` is written from a read taken at ``late_seq_seen``.

    An event that came during the write bumped ``late_seq``: the session stays due.
    """
    return replace(current, version=version, pending=current.late_seq != late_seq_seen)


def after_rewrite_request(current: Schedule) -> Schedule:
    """Owe a rewrite now, e.g. because the CRM record's id became known after the write.

    The session falls due again at its last due time, which every later tick has passed.
    """
    return replace(current, pending=True, late_seq=current.late_seq + 1)


def is_due(schedule: Schedule, now: datetime) -> bool:
    return schedule.pending and schedule.due_at <= now


@dataclass(frozen=True)
class Write:
    at: datetime
    version: int
    events: tuple[Event, ...]


def simulate_writes(
    events: Iterable[Event],
    *,
    now: datetime,
    delay: timedelta,
    stuck_timeout: timedelta,
) -> list[Write]:
    """The writes the deployed pipeline makes by ``now`` if each event arrives when it occurs.

    A finalizer that runs exactly when a session falls due stands in for the
    once-a-minute tick; events that have not occurred by ``now`` have not come.
    """
    first_of_each: dict[str, Event] = {}
    for event in events:  # a resend under the same id: the first one stored is kept
        first_of_each.setdefault(event.event_id, event)
    arrivals = sorted(
        (e for e in first_of_each.values() if e.occurred_at <= now),
        key=lambda e: (e.occurred_at, e.event_id),
    )
    schedule: Schedule | None = None
    arrived: list[Event] = []
    writes: list[Write] = []

    def write_due_until(limit: datetime) -> None:
        nonlocal schedule
        while schedule is not None and schedule.pending and schedule.due_at <= limit:
            if schedule.awaits_stuck_timeout:
                exact = stuck_due(arrived, stuck_timeout)
                if exact > schedule.due_at:  # the finalizer defers to the exact time
                    schedule = replace(schedule, due_at=exact)
                    continue
            version = schedule.version + 1
            writes.append(Write(at=schedule.due_at, version=version, events=tuple(arrived)))
            schedule = after_write(schedule, version=version, late_seq_seen=schedule.late_seq)

    for event in arrivals:
        write_due_until(event.occurred_at - timedelta(microseconds=1))
        arrived.append(event)
        changed = after_event(
            schedule,
            occurred_at=event.occurred_at,
            is_end=event.type == "session.ended",
            writing=schedule is not None and schedule.version > 0,
            delay=delay,
            stuck_timeout=stuck_timeout,
        )
        schedule = changed or schedule
    write_due_until(now)
    return writes
