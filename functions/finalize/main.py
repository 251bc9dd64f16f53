"""Cloud Function ``finalize``: on each scheduler tick, hand the due sessions out as jobs.

The finalize workers (``finalize_worker``) write the files. A tick may carry
``{"now": ISO}`` only where ``ALLOW_TICK_NOW`` is set (local stack, tests);
elsewhere the function uses its own clock.
"""

import logging

import functions_framework

from shared import bootstrap
from shared.adapters.pubsub import message_from_cloud_event
from shared.config import get_settings, settings_at_start
from shared.logs import get_logger, log
from shared.service.tick import dispatch_due, tick_time

settings_at_start()  # a wrong setting stops the instance here, in one log line
logger = get_logger("finalize")


@functions_framework.cloud_event
def finalize(cloud_event) -> None:
    settings = get_settings()
    message = message_from_cloud_event(cloud_event)
    now = tick_time(message.data, settings)
    if now is not None:  # else a malformed tick: logged, acknowledged, nothing runs
        dispatch = dispatch_due(
            now,
            tick_id=message.message_id,
            schedule=bootstrap.schedule(),
            ticks=bootstrap.ticks(),
            publisher=bootstrap.publisher(),
            settings=settings,
        )
        # What the finalize-backlog alert reads (monitoring.tf): the previous round was
        # still out, so due sessions wait for the workers.
        log(
            logger,
            logging.INFO,
            "finalize tick",
            batch_full=dispatch.busy_with is not None,
            jobs=dispatch.jobs,
            sessions=dispatch.sessions,
        )
    bootstrap.drain_crm_jobs()  # CRM jobs parked (throttled, waiting) until now go back
