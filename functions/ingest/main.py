"""Cloud Function ``ingest``: one platform event from Pub/Sub into Firestore.

Returns (ack) for stored, duplicate and quarantined messages; raises (retry)
when Firestore fails.
"""

import functions_framework

from shared import bootstrap
from shared.adapters.pubsub import message_from_cloud_event
from shared.config import get_settings, settings_at_start
from shared.service.ingest import ingest_message

settings_at_start()  # a wrong setting stops the instance here, in one log line


@functions_framework.cloud_event
def ingest(cloud_event) -> None:
    ingest_message(
        message_from_cloud_event(cloud_event),
        events=bootstrap.events(),
        schedule=bootstrap.schedule(),
        quarantine=bootstrap.quarantine(),
        settings=get_settings(),
        publisher=bootstrap.publisher(),
    )
