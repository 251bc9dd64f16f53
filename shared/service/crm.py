"""Deliver a ``session.finalized`` notice to the configured CRM (today: the webhook).

Idempotent: the delivery key is ``{session_id}:{version}``; a notice already
delivered is acknowledged without a second post, and the receiver gets the same
key as ``Idempotency-Key`` should a crash fall between its answer and our record.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from shared.adapters.firestore_deliveries import FirestoreDeliveries
from shared.adapters.webhook import WebhookClient, WebhookRejected
from shared.logs import get_logger, log

logger = get_logger("crm")

Outcome = Literal["delivered", "duplicate", "rejected", "disabled"]


def delivery_key(notice: dict[str, Any]) -> str:
    return f"{notice['session_id']}:{notice['version']}"


def deliver_notice(
    notice: dict[str, Any], *, deliveries: FirestoreDeliveries, webhook: WebhookClient | None
) -> Outcome:
    if webhook is None:
        return "disabled"
    key = delivery_key(notice)
    if (deliveries.get(key) or {}).get("status") == "delivered":
        return "duplicate"
    payload = {
        "session_id": notice["session_id"],
        "version": notice["version"],
        "object": f"gs://{notice['bucket']}/{notice['metadata_object']}",
        "datastream_object": f"gs://{notice['bucket']}/{notice['datastream_object']}",
        "metadata": notice["metadata"],
    }
    try:
        status = webhook.post(payload, idempotency_key=key)
    except WebhookRejected as rejected:
        deliveries.record(key, status="rejected", detail=str(rejected))
        log(logger, logging.ERROR, "webhook rejected the post", key=key, detail=str(rejected))
        return "rejected"
    deliveries.record(key, status="delivered", http_status=status, target="webhook")
    return "delivered"
