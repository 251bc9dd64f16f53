"""Publishing envelopes and ticks to a running local stack, and waiting for their effect."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from google.cloud import pubsub_v1

from shared.domain.errors import BadInput
from shared.domain.events import parse_event


def envelope_attributes(raw: bytes) -> dict[str, str]:
    """``session_id`` and ``type`` copied from the envelope, when it has them (for filtering)."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(doc, dict):
        return {}
    return {k: doc[k] for k in ("session_id", "type") if isinstance(doc.get(k), str)}


@dataclass
class Published:
    """What a publish sent: the events ingest should store, the messages it should reject."""

    events: list[tuple[str, str]] = field(default_factory=list)  # (session id, event id)
    rejected: list[str] = field(default_factory=list)  # message ids
    count: int = 0


def publish_lines(stack, lines: Iterable[bytes]) -> int:
    """Publish each non-empty line as one message; wait until every one is accepted."""
    return publish_and_track(stack, lines).count


def publish_and_track(
    stack, lines: Iterable[bytes], *, progress: Callable[[int, int], None] | None = None
) -> Published:
    """Publish each non-empty line; ``progress(done, total)`` as Pub/Sub accepts them."""
    client = pubsub_v1.PublisherClient()
    topic = client.topic_path(stack.project, stack.topics["events"])
    pending = []
    for raw in lines:
        raw = raw.rstrip(b"\r\n")
        if raw.strip():
            pending.append((raw, client.publish(topic, raw, **envelope_attributes(raw))))
    out = Published(count=len(pending))
    for done, (raw, future) in enumerate(pending, start=1):
        message_id = future.result(timeout=60)
        if progress:
            progress(done, len(pending))
        try:
            event = parse_event(raw)
        except BadInput:
            out.rejected.append(message_id)
        else:
            out.events.append((event.session_id, event.event_id))
    return out


CHUNK = 300  # keys per look-up; keys found stored are not looked up again


def stall_timeout() -> float:
    """How long ingest may show no progress before a waiter gives up.

    A message whose delivery failed comes back only after the subscription's backoff,
    up to the deployed retry policy's maximum (the local stack's subscriptions have none
    and retry after about a second; the patience stays the deployed one): waiting less
    than that would call a redelivery that is merely scheduled a failure.
    """
    from devstack.local_stack import retry_policy

    return retry_policy()["maximum_backoff"]["seconds"] + 60.0


def wait_ingested(
    store,
    published: Published,
    *,
    timeout: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Wait until ingest stored every event and kept every rejected message; the counts.

    Waits as long as the counts keep moving, however large the log: gives up only after
    ``timeout`` seconds without progress (default: the retry policy's maximum backoff and
    a minute). ``progress`` hears (done, total) on every look.
    """
    stall = stall_timeout() if timeout is None else timeout
    events = list(dict.fromkeys(published.events))
    remaining = [events[i : i + CHUNK] for i in range(0, len(events), CHUNK)]
    done_events = 0
    moved_at = time.monotonic()
    last: tuple[int, int] | None = None
    while True:
        still, partial = [], 0
        for chunk in remaining:
            found = store.stored(chunk)
            if found == len(chunk):
                done_events += found
            else:
                still.append(chunk)
                partial += found
        remaining = still
        stored, kept = done_events + partial, store.quarantined(published.rejected)
        if progress:
            progress(stored + kept, len(events) + len(published.rejected))
        if (stored, kept) == (len(events), len(published.rejected)):
            return stored, kept
        now = time.monotonic()
        if (stored, kept) != last:
            last, moved_at = (stored, kept), now
        elif now - moved_at > stall:
            raise TimeoutError(
                f"no progress for {stall:.0f} s: {stored}/{len(events)} events stored, "
                f"{kept}/{len(published.rejected)} rejected messages kept"
            )
        time.sleep(0.3 if len(events) < 1000 else 1.0)


def publish_tick(stack, now: datetime | None = None) -> str:
    client = pubsub_v1.PublisherClient()
    topic = client.topic_path(stack.project, stack.topics["ticks"])
    body = {"now": now.isoformat()} if now else {}
    return client.publish(topic, json.dumps(body).encode()).result(timeout=60)


def wait_tick(store, tick_id: str, *, timeout: float = 120) -> dict:
    """What the finalizer did for this tick, once it is done."""
    deadline = time.monotonic() + timeout
    while (record := store.tick_record(tick_id)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the finalizer did not report tick {tick_id} in {timeout:.0f} s")
        time.sleep(0.3)
    return record
