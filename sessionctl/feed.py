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


def _attributes(raw: bytes) -> dict[str, str]:
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
            pending.append((raw, client.publish(topic, raw, **_attributes(raw))))
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


def wait_ingested(
    store,
    published: Published,
    *,
    timeout: float = 120,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Wait until ingest stored every event and kept every rejected message; the counts."""
    events = list(dict.fromkeys(published.events))
    deadline = time.monotonic() + timeout
    while True:
        stored, kept = store.stored(events), store.quarantined(published.rejected)
        if progress:
            progress(stored + kept, len(events) + len(published.rejected))
        if (stored, kept) == (len(events), len(published.rejected)):
            return stored, kept
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"after {timeout:.0f} s: {stored}/{len(events)} events stored, "
                f"{kept}/{len(published.rejected)} rejected messages kept"
            )
        time.sleep(0.3)


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
