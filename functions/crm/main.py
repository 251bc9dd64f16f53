"""Cloud Function ``crm``: CRM trigger jobs and ``session.finalized`` notices.

Returns (ack) once the work is done, found done, parked to wait, dead-lettered
or found malformed; raises (retry) on a short transient CRM or Firestore failure.
"""

import functions_framework

from shared import bootstrap
from shared.adapters.pubsub import message_from_cloud_event
from shared.config import settings_at_start
from shared.service.crm import handle_crm_data

settings_at_start()  # a wrong setting stops the instance here, in one log line


@functions_framework.cloud_event
def crm(cloud_event) -> None:
    handle_crm_data(message_from_cloud_event(cloud_event).data, bootstrap.crm_deps())
