"""Publishing envelopes and ticks to a running local stack."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from google.cloud import pubsub_v1


def _attributes(raw: bytes) -> dict[str, str]:
    """``session_id`` and ``type`` copied from the envelope, when it has them (for filtering)."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(doc, dict):
        return {}
    return {k: doc[k] for k in ("session_id", "type") if isinstance(doc.get(k), str)}


def publish_lines(stack, lines: Iterable[bytes]) -> int:
    """Publish each non-empty line as one message; wait until every one is accepted."""
    client = pubsub_v1.PublisherClient()
    topic = client.topic_path(stack.project, stack.topics["events"])
    futures = []
    for raw in lines:
        raw = raw.rstrip(b"\r\n")
        if raw.strip():
            futures.append(client.publish(topic, raw, **_attributes(raw)))
    for future in futures:
        future.result(timeout=60)
    return len(futures)


def publish_tick(stack, now: datetime | None = None) -> str:
    client = pubsub_v1.PublisherClient()
    topic = client.topic_path(stack.project, stack.topics["ticks"])
    body = {"now": now.isoformat()} if now else {}
    return client.publish(topic, json.dumps(body).encode()).result(timeout=60)
