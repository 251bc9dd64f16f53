"""Cloud Function ``crm``: CRM trigger jobs and ``session.finalized`` notices.

Returns (ack) once the work is done, found done, or dead-lettered; raises
(retry) on a transient CRM or Firestore failure.
"""

import json

import functions_framework

from shared import bootstrap
from shared.adapters.pubsub import message_from_cloud_event
from shared.config import settings_at_start
from shared.service.crm import handle_crm_message

settings_at_start()  # a wrong setting stops the instance here, in one log line


@functions_framework.cloud_event
def crm(cloud_event) -> None:
    doc = json.loads(message_from_cloud_event(cloud_event).data)
    handle_crm_message(doc, bootstrap.crm_deps())
