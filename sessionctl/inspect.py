"""Looking at the local stack: session cards and the quarantine."""

from __future__ import annotations

from datetime import UTC, datetime

from shared import bootstrap
from shared.config import get_settings
from shared.domain.session import reduce_session


def show_session(session_id: str) -> int:
    from shared.domain.card import build_card, render_card

    events = bootstrap.events().load_events(session_id)
    if not events:
        print(f"no events for session {session_id}")
        return 1
    state = reduce_session(session_id, events)
    card = build_card(state, now=datetime.now(UTC), zone=get_settings().zone)
    print(render_card(card))
    return 0


def list_quarantine(*, include_replayed: bool = False) -> int:
    records = bootstrap.quarantine().list_quarantine(include_replayed=include_replayed)
    for record in records:
        replayed = f"  replayed as {record.replayed_as}" if record.replayed_as else ""
        print(
            f"{record.id}\t{record.received_at.isoformat(timespec='seconds')}\t"
            f"{record.reason}\t{len(record.raw)} bytes\t{record.detail}{replayed}"
        )
    print(f"{len(records)} quarantined message(s)")
    return 0


def replay_quarantined(stack, record_id: str, data: bytes | None) -> int:
    """Publish a kept message again (fixed by ``data`` if given) and mark it replayed."""
    from google.cloud import pubsub_v1

    from sessionctl.feed import envelope_attributes
    from shared.adapters.pubsub import PubsubPublisher

    quarantine = bootstrap.quarantine()
    record = quarantine.get_quarantine(record_id)
    if record is None:
        print(f"no quarantined message {record_id}")
        return 1
    body = data if data is not None else record.raw
    attributes = {**record.attributes, **envelope_attributes(body)}
    publisher = PubsubPublisher(pubsub_v1.PublisherClient(), stack.project)
    message_id = publisher.publish(stack.topics["events"], body, **attributes)
    quarantine.mark_replayed(record_id, message_id)
    print(f"replayed {record_id} as message {message_id}")
    return 0


def list_dead_letters(*, include_replayed: bool = False) -> int:
    letters = bootstrap.crm_records().dead_letters(include_replayed=include_replayed)
    for letter in letters:
        replayed = f"  replayed as {letter.replayed_as}" if letter.replayed_as else ""
        kind = letter.job.get("trigger") or f"file v{letter.job.get('version')}"
        print(
            f"{letter.id}\t{letter.failed_at.isoformat(timespec='seconds')}\t"
            f"{letter.job.get('session_id')}\t{kind}\t{letter.error}{replayed}"
        )
    print(f"{len(letters)} dead-lettered CRM job(s)")
    return 0


def replay_dead_letter(stack, letter_id: str) -> int:
    """Publish a dead-lettered job again (after fixing its cause) and mark it replayed."""
    from google.cloud import pubsub_v1

    from shared.adapters.pubsub import PubsubPublisher

    records = bootstrap.crm_records()
    letter = records.get_dead_letter(letter_id)
    if letter is None:
        print(f"no dead-lettered CRM job {letter_id}")
        return 1
    publisher = PubsubPublisher(pubsub_v1.PublisherClient(), stack.project)
    topic = get_settings().crm_jobs_topic
    message_id = publisher.publish_json(topic, letter.job, session_id=letter.job["session_id"])
    records.mark_replayed(letter_id, message_id)
    print(f"replayed {letter_id} as message {message_id} on {topic}")
    return 0
