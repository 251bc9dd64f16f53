"""Cloud Function ``finalize``: on each scheduler tick, write the files of due sessions.

A tick may carry ``{"now": ISO}`` only where ``ALLOW_TICK_NOW`` is set (local
stack, tests); elsewhere the function uses its own clock.
"""

import functions_framework

from shared import bootstrap
from shared.adapters.pubsub import message_from_cloud_event
from shared.config import get_settings, settings_at_start
from shared.service.tick import run_tick

settings_at_start()  # a wrong setting stops the instance here, in one log line


@functions_framework.cloud_event
def finalize(cloud_event) -> None:
    run_tick(
        message_from_cloud_event(cloud_event),
        events=bootstrap.events(),
        schedule=bootstrap.schedule(),
        files=bootstrap.files(),
        publisher=bootstrap.publisher(),
        ticks=bootstrap.ticks(),
        settings=get_settings(),
        ticket_of=lambda session_id: bootstrap.crm_records().get(session_id).ticket,
    )
    bootstrap.drain_crm_jobs()  # CRM jobs parked (throttled, waiting) until now go back
