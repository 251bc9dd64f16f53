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
    message = message_from_cloud_event(cloud_event)
    ingest_message(
        message, store=bootstrap.store(), settings=get_settings(), publisher=bootstrap.publisher()
    )
