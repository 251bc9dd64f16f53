"""Kustomer conversations (the records agents work on).

- Auth: ``Authorization: Bearer <API key>`` on every call to the API host; never
  on the presigned storage upload, which is another host.
- A conversation needs a customer: found by ``GET /v1/customers/externalId=``
  (the end user id; else ``email=``, ``phone=``), created when missing; a 409
  (another worker created it first) is read again.
  https://developer.kustomer.com/kustomer-api-docs/reference/getcustomerbyexternalid
- Create: ``POST /v1/customers/{id}/conversations`` with ``externalId`` = the
  session key; ``GET /v1/conversations/externalId=`` finds it again (no
  idempotency header exists; a duplicate ``externalId`` is a 409). Tags are
  appended by name (``POST /v1/conversations/{id}/tags``), which creates missing
  tags and never doubles one; ``complete`` re-applies them after a lost answer.
  https://developer.kustomer.com/docs/concepts/conversations-and-messages
- The agent: the Kustomer user with the agent's e-mail (``GET /v1/users``, cached).
- Statuses: ``open``, ``snoozed`` (open) and ``done`` (closed). Reopen = ``open``.
- Files: ``POST /v1/attachments`` -> multipart POST to the presigned URL (file
  last) -> a note on the conversation referencing the attachment.
- Throttling: 429 with ``x-ratelimit-reset`` (no Retry-After documented).
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import quote

import httpx

from shared.adapters.crm.base import (
    FetchedOnce,
    HttpCrm,
    RecordRef,
    Usage,
    created_time,
    parse_time,
    send,
)
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
        event_hooks: dict[str, list[Any]] | None = None,
        on_usage: Usage | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._app = (settings.app_url or self._base).rstrip("/")
        self._settings = settings
        self._users: FetchedOnce[None, dict[str, str]] = FetchedOnce()  # e-mail -> user id
        super().__init__(
            throttle_default=throttle_default,
            event_hooks=event_hooks,
            on_usage=on_usage,
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

    def usage(self, response: httpx.Response) -> tuple[int, int, float] | None:
        remaining = response.headers.get("x-ratelimit-remaining")
        limit = response.headers.get("x-ratelimit-limit")
        reset = response.headers.get("x-ratelimit-reset")
        if remaining is None or limit is None or reset is None:
            return None
        number = float(reset)
        seconds = number - time.time() if number > 1e9 else number  # epoch or seconds
        return int(remaining), int(limit), max(1.0, seconds)

    def create_record(self, record: NewRecord, *, follow_up_of: str | None = None) -> RecordRef:
        s = self._settings
        customer = self._customer(record)
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
                    (s.end_user_attr, record.end_user_id),
                )
                if name and value
            },
        }
        owner = self._owner(record)
        if owner:
            body["assignedUsers"] = [owner]
        try:
            path = f"/v1/customers/{customer}/conversations"
            conversation = self._send("create", "POST", path, json=body).json()["data"]
        except CrmRejected as exc:
            if exc.status != 409:
                raise
            conversation = self._conversation(record.external_id)  # created by a lost attempt
            if conversation is None:
                raise
        self.complete(conversation["id"], record)
        log.info("kustomer conversation %s for %s", conversation["id"], record.external_id)
        return RecordRef(conversation["id"], self.record_url(conversation))

    def complete(self, record_id: str, record: NewRecord) -> None:
        """The tags, appended by name: what is there already stays once."""
        if record.tags:
            tags_path = f"/v1/conversations/{record_id}/tags"
            self._send("tags", "POST", tags_path, json=list(record.tags))

    def _owner(self, record: NewRecord) -> str | None:
        who = record.assignee
        if who.is_admin:
            return who.user_id
        if not who.email:
            return None
        return self._users.get(None, self._list_users).get(who.email.lower())

    def _list_users(self) -> dict[str, str]:
        """Every Kustomer user by e-mail, page by page (at most 50 pages)."""
        users: dict[str, str] = {}
        page = 1
        while True:
            answer = self._send(
                "users", "GET", "/v1/users", params={"page": page, "pageSize": 100}
            ).json()
            for user in answer.get("data") or []:
                email = (user.get("attributes") or {}).get("email")
                if email:
                    users[email.lower()] = user["id"]
            if not (answer.get("links") or {}).get("next") or page >= 50:
                break
            page += 1
        return users

    def find_by_external_id(self, external_id: str) -> RecordRef | None:
        conversation = self._conversation(external_id)
        if conversation is None:
            return None
        return RecordRef(conversation["id"], self.record_url(conversation))

    def get_record(self, record_id: str) -> ExistingRecord | None:
        try:
            path = f"/v1/conversations/{record_id}"
            conversation = self._send("read", "GET", path).json()["data"]
        except CrmRejected as exc:
            if exc.status == 404:
                return None
            raise
        attributes = conversation.get("attributes") or {}
        custom = attributes.get("custom") or {}
        is_open = attributes.get("status") in OPEN_STATUSES
        return ExistingRecord(
            id=conversation["id"],
            url=self.record_url(conversation),
            is_open=is_open,
            created_at=created_time(attributes["createdAt"]),
            closed_at=None if is_open else parse_time(attributes.get("updatedAt")),
            end_user_id=custom.get(self._settings.end_user_attr),
            leaf_queue=custom.get(self._settings.leaf_queue_attr),
            status=attributes.get("status"),
        )

    def add_note(self, record_id: str, body: str) -> None:
        path = f"/v1/conversations/{record_id}/notes"
        self._send("note", "POST", path, json={"body": body[:10_240]})

    def _notes(self, record_id: str) -> list[dict[str, Any]]:
        path = f"/v1/conversations/{record_id}/notes"
        return self._send("notes", "GET", path, params={"pageSize": 100}).json().get("data") or []

    def notes(self, record_id: str) -> list[str]:
        return [(n.get("attributes") or {}).get("body") or "" for n in self._notes(record_id)]

    def find_file(self, record_id: str, marker: str) -> str | None:
        for note in self._notes(record_id):
            attributes = note.get("attributes") or {}
            if (
                marker
                and marker in (attributes.get("body") or "")
                and attributes.get("attachments")
            ):
                return str(attributes["attachments"][0]["_id"])
        return None

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
        marker: str = "",
    ) -> str:
        described = {"name": filename, "contentType": content_type, "contentLength": len(content)}
        answer = self._send("attach", "POST", "/v1/attachments", json=described).json()
        attachment_id = str(answer["data"]["id"])
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
        body = f"Session metadata file {marker or filename}"
        if replaces:
            body += f" (supersedes attachment {replaces})"
        note = {"body": body, "attachments": [{"_id": attachment_id, **described}]}
        self._send("note", "POST", f"/v1/conversations/{record_id}/notes", json=note)
        log.info("kustomer conversation %s: attached %s (%s)", record_id, filename, attachment_id)
        return attachment_id

    def _customer(self, record: NewRecord) -> str:
        """The end user's customer id: by external id, e-mail or phone; made when missing."""
        s = self._settings
        candidates = [
            ("externalId", record.end_user_id),
            ("email", record.end_user_email),
            ("phone", record.end_user_phone),
        ]
        lookups = [(name, value) for name, value in candidates if value]
        if not lookups:
            lookups = [("externalId", s.unknown_customer_external_id)]
        found = self._find_customer(lookups)
        if found is not None:
            return found
        customer: dict[str, Any] = {"name": record.end_user_name or lookups[0][1]}
        values = dict(lookups)
        if "externalId" in values:
            customer["externalId"] = values["externalId"]
        if "email" in values:
            customer["emails"] = [{"email": values["email"]}]
        if "phone" in values:
            customer["phones"] = [{"phone": values["phone"]}]
        try:
            created = self._send("customer", "POST", "/v1/customers", json=customer).json()
            return str(created["data"]["id"])
        except CrmRejected as exc:
            if exc.status != 409:
                raise
        found = self._find_customer(lookups)  # another worker created it just now
        if found is None:
            raise CrmRejected(self.name, "customer", "409 on create, then not found", 409)
        return found

    def _find_customer(self, lookups: list[tuple[str, str]]) -> str | None:
        for name, value in lookups:
            try:
                path = f"/v1/customers/{name}={quote(value, safe='')}"
                return str(self._send("customer", "GET", path).json()["data"]["id"])
            except CrmRejected as exc:
                if exc.status != 404:
                    raise
        return None

    def _conversation(self, external_id: str) -> dict[str, Any] | None:
        try:
            path = f"/v1/conversations/externalId={quote(external_id, safe='')}"
            found: dict[str, Any] = self._send("find", "GET", path).json()["data"]
            return found
        except CrmRejected as exc:
            if exc.status == 404:
                return None
            raise
