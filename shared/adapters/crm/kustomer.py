"""Kustomer conversations (the records agents work on).

- Auth: ``Authorization: Bearer <API key>`` on every call to the API host; never
  on the presigned storage upload, which is another host.
- A conversation needs a customer: found by ``GET /v1/customers/externalId=``
  (the end user id), created when missing.
- Create: ``POST /v1/customers/{id}/conversations`` with ``externalId`` = the
  session key; ``GET /v1/conversations/externalId=`` finds it again (no
  idempotency header exists). Tags are appended by name
  (``POST /v1/conversations/{id}/tags``), which creates missing tags.
- Statuses: ``open``, ``snoozed`` (open) and ``done`` (closed). Reopen = ``open``.
- Files: ``POST /v1/attachments`` -> multipart POST to the presigned URL (file
  last) -> a note on the conversation referencing the attachment.
- Throttling: 429 with ``x-ratelimit-reset`` (no Retry-After documented).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import httpx

from shared.adapters.crm.base import HttpCrm, RecordRef, parse_time, send
from shared.crm.errors import CrmRejected
from shared.crm.rules import ExistingRecord, NewRecord
from shared.crm.settings import KustomerSettings

log = logging.getLogger(__name__)

OPEN_STATUSES = frozenset({"open", "snoozed"})


class KustomerClient(HttpCrm):
    name = "kustomer"

    def __init__(
        self,
        base_url: str,
        settings: KustomerSettings,
        *,
        throttle_default: float = 60.0,
        timeout: float = 10.0,
        event_hooks: dict[str, list] | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._app = (settings.app_url or self._base).rstrip("/")
        self._settings = settings
        super().__init__(
            throttle_default=throttle_default,
            event_hooks=event_hooks,
            base_url=self._base,
            headers={
                "Authorization": f"Bearer {settings.api_key.get_secret_value()}",
                "Accept": "application/json",
            },
            timeout=timeout,
        )
        self._storage = httpx.Client(
            timeout=timeout, event_hooks=event_hooks or {}
        )  # presigned uploads: no API key

    def close(self) -> None:
        super().close()
        self._storage.close()

    def record_url(self, conversation: dict[str, Any]) -> str:
        customer = ((conversation.get("relationships") or {}).get("customer") or {}).get("data")
        if customer:
            return f"{self._app}/app/customers/{customer['id']}/event/{conversation['id']}"
        return f"{self._app}/app/conversations/{conversation['id']}"

    def create_record(self, record: NewRecord) -> RecordRef:
        s = self._settings
        customer = self._customer(
            record.end_user_id or s.unknown_customer_external_id, record.end_user_name
        )
        body: dict[str, Any] = {
            "name": record.title,
            "externalId": record.external_id,
            "status": "open",
            "direction": record.direction,
            "custom": {
                name: value
                for name, value in (
                    (s.session_id_attr, record.external_id),
                    (s.leaf_queue_attr, record.leaf_queue),
                )
                if name and value
            },
        }
        if record.assignee.is_admin and record.assignee.user_id:
            body["assignedUsers"] = [record.assignee.user_id]
        try:
            path = f"/v1/customers/{customer}/conversations"
            conversation = self._send("create", "POST", path, json=body).json()["data"]
        except CrmRejected as exc:
            if exc.status != 409:
                raise
            conversation = self._conversation(record.external_id)  # created by a lost attempt
            if conversation is None:
                raise
        if record.tags:  # appended by name, so repeating it after a lost answer is harmless
            tags_path = f"/v1/conversations/{conversation['id']}/tags"
            self._send("tags", "POST", tags_path, json=list(record.tags))
        log.info("kustomer conversation %s for %s", conversation["id"], record.external_id)
        return RecordRef(conversation["id"], self.record_url(conversation))

    def find_by_external_id(self, external_id: str) -> RecordRef | None:
        conversation = self._conversation(external_id)
        if conversation is None:
            return None
        return RecordRef(conversation["id"], self.record_url(conversation))

    def find_recent_records(self, end_user_id: str, leaf_queue: str) -> list[ExistingRecord]:
        customer = self._customer(end_user_id, None, create=False)
        if customer is None:
            return []
        path = f"/v1/customers/{customer}/conversations"
        found = self._send("list", "GET", path, params={"pageSize": 100}).json().get("data") or []
        out = []
        for conversation in found:
            attributes = conversation.get("attributes") or {}
            custom = attributes.get("custom") or {}
            if custom.get(self._settings.leaf_queue_attr) != leaf_queue:
                continue
            is_open = attributes.get("status") in OPEN_STATUSES
            out.append(
                ExistingRecord(
                    id=conversation["id"],
                    url=self.record_url(conversation),
                    is_open=is_open,
                    created_at=parse_time(attributes["createdAt"]),
                    closed_at=None if is_open else parse_time(attributes.get("updatedAt")),
                    end_user_id=end_user_id,
                    leaf_queue=leaf_queue,
                )
            )
        return sorted(out, key=lambda r: r.created_at, reverse=True)

    def reopen(self, record_id: str) -> None:
        self._send("reopen", "PATCH", f"/v1/conversations/{record_id}", json={"status": "open"})
        log.info("kustomer conversation %s reopened", record_id)

    def attach_file(
        self,
        record_id: str,
        filename: str,
        content: bytes,
        content_type: str,
        replaces: str | None = None,
    ) -> str:
        described = {"name": filename, "contentType": content_type, "contentLength": len(content)}
        answer = self._send("attach", "POST", "/v1/attachments", json=described).json()
        attachment_id = answer["data"]["id"]
        upload = answer["meta"]["upload"]
        send(
            self._storage,
            self.name,
            "upload",
            "POST",
            upload["url"],
            throttle_default=self._throttle_default,
            data=upload.get("fields") or {},
            files={"file": (filename, content, content_type)},  # after the fields, as S3 wants
        )
        body = f"Session metadata file {filename}"
        if replaces:
            body += f" (supersedes attachment {replaces})"
        note = {"body": body, "attachments": [{"_id": attachment_id, **described}]}
        self._send("note", "POST", f"/v1/conversations/{record_id}/notes", json=note)
        log.info("kustomer conversation %s: attached %s (%s)", record_id, filename, attachment_id)
        return attachment_id

    def _customer(self, external_id: str, name: str | None, *, create: bool = True) -> str | None:
        try:
            path = f"/v1/customers/externalId={quote(external_id, safe='')}"
            return self._send("customer", "GET", path).json()["data"]["id"]
        except CrmRejected as exc:
            if exc.status != 404:
                raise
        if not create:
            return None
        customer = {"name": name or external_id, "externalId": external_id}
        return self._send("customer", "POST", "/v1/customers", json=customer).json()["data"]["id"]

    def _conversation(self, external_id: str) -> dict[str, Any] | None:
        try:
            path = f"/v1/conversations/externalId={quote(external_id, safe='')}"
            return self._send("find", "GET", path).json()["data"]
        except CrmRejected as exc:
            if exc.status == 404:
                return None
            raise
