"""Cloud Function ``crm``: deliver each ``session.finalized`` notice to the CRM.

Raises (retry) on a transient CRM or Firestore failure; a notice that is not
JSON is logged and acknowledged.
"""

import json

import functions_framework

from shared import bootstrap
from shared.adapters.pubsub import message_from_cloud_event
from shared.service.crm import deliver_notice


@functions_framework.cloud_event
def crm(cloud_event) -> None:
    notice = json.loads(message_from_cloud_event(cloud_event).data)
    deliver_notice(notice, deliveries=bootstrap.deliveries(), webhook=bootstrap.webhook())
