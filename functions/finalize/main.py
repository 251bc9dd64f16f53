"""Cloud Function ``finalize``: on each scheduler tick, write the files of due sessions.

A tick may carry ``{"now": ISO}`` only where ``ALLOW_TICK_NOW`` is set (local
stack, tests); elsewhere the function uses its own clock.
"""

import functions_framework

from shared import bootstrap
from shared.adapters.pubsub import message_from_cloud_event
from shared.config import get_settings, settings_at_start
from shared.service.finalize import finalize_due
from shared.service.tick import tick_time

settings_at_start()  # a wrong setting stops the instance here, in one log line


@functions_framework.cloud_event
def finalize(cloud_event) -> None:
    settings = get_settings()
    message = message_from_cloud_event(cloud_event)
    now = tick_time(message.data, settings)
    store = bootstrap.store()
    report = finalize_due(
        now,
        store=store,
        files=bootstrap.files(),
        publisher=bootstrap.publisher(),
        settings=settings,
        ticket_of=lambda session_id: bootstrap.crm_records().get(session_id).ticket,
    )
    store.record_tick(message.message_id, now, report.as_dict())
