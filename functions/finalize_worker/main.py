"""Cloud Function ``finalize_worker``: one finalize job (a few due sessions) per request.

Scales out with the jobs the tick publishes. Returns (ack) once every session of
the job is written, found unchanged, deferred, or given back after a failure, or
when the job is malformed (logged; its sessions stay due for the next tick);
raises (retry) only when the job's report cannot be recorded.
"""

import functions_framework

from shared import bootstrap
from shared.adapters.pubsub import message_from_cloud_event
from shared.config import get_settings, settings_at_start
from shared.service.finalize import finalize_job, read_job

settings_at_start()  # a wrong setting stops the instance here, in one log line


@functions_framework.cloud_event
def finalize_worker(cloud_event) -> None:
    job = read_job(message_from_cloud_event(cloud_event).data)
    if job is None:
        return
    finalize_job(
        job,
        events=bootstrap.events(),
        schedule=bootstrap.schedule(),
        ticks=bootstrap.ticks(),
        files=bootstrap.files(),
        publisher=bootstrap.publisher(),
        settings=get_settings(),
        ticket_of=lambda session_id: bootstrap.crm_records().get(session_id).ticket,
    )
