"""Pub/Sub: decoding the trigger's CloudEvent, and publishing."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

from google.cloud.pubsub_v1 import PublisherClient

from shared.ports import PubsubMessage

__all__ = ["PubsubMessage", "PubsubPublisher", "message_from_cloud_event"]


def message_from_cloud_event(cloud_event: Any) -> PubsubMessage:
    """Unwrap ``google.cloud.pubsub.topic.v1.messagePublished``.

    Only ``data["message"]`` is read: the functions-framework's conversion of a
    raw push body drops ``subscription``, while Eventarc keeps it.
    """
    message = (cloud_event.data or {}).get("message") or {}
    raw = message.get("data") or ""
    return PubsubMessage(
        data=base64.b64decode(raw) if raw else b"",
        message_id=str(message.get("messageId") or message.get("message_id") or cloud_event["id"]),
        attributes=dict(message.get("attributes") or {}),
        publish_time=message.get("publishTime") or message.get("publish_time"),
    )


class PubsubPublisher:
    """The ``Publisher`` port on Pub/Sub: waits for the server's ack (no silent loss)."""

    def __init__(self, client: PublisherClient, project: str) -> None:
        self._client = client
        self._project = project

    def publish(self, topic: str, data: bytes, **attributes: str) -> str:
        path = self._client.topic_path(self._project, topic)
        message_id: str = self._client.publish(path, data, **attributes).result(timeout=60)
        return message_id

    def publish_json(self, topic: str, doc: Mapping[str, Any], **attributes: str) -> str:
        return self.publish(topic, _encode(doc), **attributes)

    def publish_json_many(
        self, topic: str, docs: Sequence[tuple[Mapping[str, Any], Mapping[str, str]]]
    ) -> list[str]:
        """Publish every (document, attributes) at once, then wait for all the acks.

        The client batches them into few publish requests (cheaper: Pub/Sub bills at
        least 1,000 bytes per request), and no round trip waits for the one before.
        """
        path = self._client.topic_path(self._project, topic)
        futures = [self._client.publish(path, _encode(doc), **attrs) for doc, attrs in docs]
        return [str(future.result(timeout=60)) for future in futures]


def _encode(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
