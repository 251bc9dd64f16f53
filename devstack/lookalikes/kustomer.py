"""Look-alike Kustomer API: customers, conversations, tags, notes, attachments, users.

Each behaviour a client may depend on, with the page that documents it:
- Customers by ``externalId``, e-mail or phone (``GET /v1/customers/externalId=…``,
  ``email=…``, ``phone=…``); a second customer with the same external id, e-mail or
  phone is a 409 (duplicate).
  https://developer.kustomer.com/kustomer-api-docs/reference/createacustomer
- Conversations carry a unique ``externalId`` (a second one is a 409) found by
  ``GET /v1/conversations/externalId=…``; statuses open, snoozed, done.
  https://developer.kustomer.com/docs/concepts/conversations-and-messages
- Tags appended by name create missing tags and never double one.
- Attachments: ``POST /v1/attachments`` -> presigned S3 POST (file last) -> a note.
  https://developer.kustomer.com/docs/guides/attachments
- 429 with ``x-ratelimit-*`` headers (no Retry-After); the same headers on every answer.
  https://developer.kustomer.com/docs/concepts/rate-limits
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from devstack.lookalikes.common import (
    AGENTS,
    MINUTE,
    Answer,
    FakeCrm,
    Request,
    bearer,
    iso_z,
)


class FakeKustomer(FakeCrm):
    name = "kustomer"

    def __init__(self, hub: Any) -> None:
        super().__init__(hub)
        self.route(
            "GET",
            "/v1/customers/(?P<key>externalId|email|phone)=(?P<ext>.+)",
            self.customer_by_ext,
            "/v1/customers/{key}={x}",
        )
        self.route("GET", "/v1/users", self.list_users, "/v1/users")
        self.route(
            "GET",
            "/v1/conversations/(?P<id>[0-9a-f]+)/notes",
            self.list_notes,
            "/v1/conversations/{id}/notes",
        )
        self.route("POST", "/v1/customers", self.create_customer, "/v1/customers")
        self.route(
            "POST",
            "/v1/customers/(?P<cid>[0-9a-f]+)/conversations",
            self.create_conversation,
            "/v1/customers/{id}/conversations",
        )
        self.route(
            "GET",
            "/v1/customers/(?P<cid>[0-9a-f]+)/conversations",
            self.customer_conversations,
            "/v1/customers/{id}/conversations",
        )
        self.route("POST", "/v1/conversations", self.create_conversation, "/v1/conversations")
        self.route(
            "GET",
            "/v1/conversations/externalId=(?P<ext>.+)",
            self.conversation_by_ext,
            "/v1/conversations/externalId={x}",
        )
        self.route(
            "GET",
            "/v1/conversations/(?P<id>[0-9a-f]+)",
            self.get_conversation,
            "/v1/conversations/{id}",
        )
        self.route(
            "PATCH",
            "/v1/conversations/(?P<id>[0-9a-f]+)",
            self.update_conversation,
            "/v1/conversations/{id}",
        )
        self.route(
            "POST",
            "/v1/conversations/(?P<id>[0-9a-f]+)/tags",
            self.append_tags,
            "/v1/conversations/{id}/tags",
        )
        self.route(
            "POST",
            "/v1/conversations/(?P<id>[0-9a-f]+)/notes",
            self.add_note,
            "/v1/conversations/{id}/notes",
        )
        self.route("POST", "/v1/attachments", self.create_attachment, "/v1/attachments")

    def reset(self) -> None:
        super().reset()
        self.customers: dict[str, dict[str, Any]] = {}
        self.conversations: dict[str, dict[str, Any]] = {}
        self.notes: dict[str, dict[str, Any]] = {}
        self.attachments: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, str] = {}  # name -> id

    def oid(self) -> str:
        return f"{self.new_id():024x}"

    def authorized(self, req: Request) -> bool:
        return bearer(req) is not None

    @staticmethod
    def error(status: int, code: str, title: str) -> Answer:
        return Answer(status, {"errors": [{"status": status, "code": code, "title": title}]})

    def unauthorized(self) -> Answer:
        return self.error(401, "unauthorized", "Unauthorized")

    def not_found(self) -> Answer:
        return self.error(404, "not_found", "Not Found")

    def _reset_at(self, now: float) -> float:
        return (self.minute[0] + MINUTE) if self.minute else now + MINUTE

    def throttle_answer(self, wait: float, now: float) -> Answer:
        # No Retry-After: Kustomer documents x-ratelimit-* headers (reset as an epoch time here).
        return Answer(
            429,
            {
                "errors": [
                    {"status": 429, "code": "too_many_requests", "title": "Too Many Requests"}
                ]
            },
            {"x-ratelimit-reset": str(math.ceil(now + wait)), "x-ratelimit-remaining": "0"},
        )

    def usage_headers(self, now: float) -> dict[str, str]:
        limit = self.hub.limits.per_minute or 1000
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(0, limit - len(self.minute))),
            "x-ratelimit-reset": str(math.ceil(self._reset_at(now))),
        }

    @staticmethod
    def _keys(attributes: dict[str, Any]) -> set[tuple[str, str]]:
        keys = set()
        if attributes.get("externalId"):
            keys.add(("externalId", attributes["externalId"]))
        keys |= {
            ("email", e.get("email")) for e in attributes.get("emails") or [] if e.get("email")
        }
        keys |= {
            ("phone", p.get("phone")) for p in attributes.get("phones") or [] if p.get("phone")
        }
        return keys

    def customer_by_ext(self, req: Request, key: str, ext: str) -> Answer:
        for customer in self.customers.values():
            if (key, ext) in self._keys(customer["attributes"]):
                return Answer(200, {"data": customer})
        return self.not_found()

    def create_customer(self, req: Request) -> Answer:
        body = req.json() or {}
        wanted = self._keys(body)
        for customer in self.customers.values():
            clash = wanted & self._keys(customer["attributes"])
            if clash:
                key = sorted(clash)[0][0]
                return self.error(409, "duplicate", f"a customer with this {key} already exists")
        customer_id = self.oid()
        now = iso_z(time.time(), millis=True)
        self.customers[customer_id] = {
            "type": "customer",
            "id": customer_id,
            "attributes": {
                "name": body.get("name"),
                "externalId": body.get("externalId"),
                "emails": body.get("emails") or [],
                "phones": body.get("phones") or [],
                "createdAt": now,
            },
        }
        return Answer(201, {"data": self.customers[customer_id]})

    def list_users(self, req: Request) -> Answer:
        users = [
            {"type": "user", "id": f"{number:024x}", "attributes": {"email": email}}
            for email, number in AGENTS.items()
        ]
        return Answer(200, {"data": users, "links": {"next": None}})

    def list_notes(self, req: Request, id: str) -> Answer:
        if id not in self.conversations:
            return self.not_found()
        notes = [
            n for n in self.notes.values() if n["relationships"]["conversation"]["data"]["id"] == id
        ]
        return Answer(200, {"data": notes, "links": {"next": None}})

    def create_conversation(self, req: Request, cid: str | None = None) -> Answer:
        body = req.json() or {}
        cid = cid or body.get("customer")
        if cid not in self.customers:
            return self.error(404, "not_found", "customer not found")
        ext = body.get("externalId")
        if ext and any(c["attributes"]["externalId"] == ext for c in self.conversations.values()):
            return self.error(409, "duplicate", "externalId already exists")
        now = time.time()
        conversation_id = self.oid()
        self.conversations[conversation_id] = {
            "type": "conversation",
            "id": conversation_id,
            "attributes": {
                "name": body.get("name"),
                "externalId": ext,
                "status": body.get("status", "open"),
                "direction": body.get("direction", "in"),
                "custom": body.get("custom") or {},
                "tags": [self._tag(t) for t in body.get("tags") or []],
                "assignedUsers": body.get("assignedUsers") or [],
                "noteCount": 0,
                "createdAt": iso_z(now, millis=True),
                "updatedAt": iso_z(now, millis=True),
            },
            "relationships": {"customer": {"data": {"type": "customer", "id": cid}}},
        }
        self.created(conversation_id, now)
        return Answer(201, {"data": self.conversations[conversation_id]})

    def _tag(self, name: str) -> str:
        return self.tags.setdefault(name, f"{0xABC000 + len(self.tags):024x}")

    def customer_conversations(self, req: Request, cid: str) -> Answer:
        if cid not in self.customers:
            return self.not_found()
        found = [
            c
            for c in self.conversations.values()
            if c["relationships"]["customer"]["data"]["id"] == cid
        ]
        found.sort(key=lambda c: c["attributes"]["createdAt"], reverse=True)
        size = int(req.query.get("pageSize") or 100)
        return Answer(200, {"data": found[:size], "meta": {"pageSize": size, "page": 1}})

    def conversation_by_ext(self, req: Request, ext: str) -> Answer:
        for conversation in self.conversations.values():
            if conversation["attributes"]["externalId"] == ext:
                return Answer(200, {"data": conversation})
        return self.not_found()

    def get_conversation(self, req: Request, id: str) -> Answer:
        conversation = self.conversations.get(id)
        return Answer(200, {"data": conversation}) if conversation else self.not_found()

    def update_conversation(self, req: Request, id: str) -> Answer:
        conversation = self.conversations.get(id)
        if conversation is None:
            return self.not_found()
        body = req.json() or {}
        if "status" in body and body["status"] not in ("open", "snoozed", "done"):
            return self.error(400, "invalid", "status")
        attributes = conversation["attributes"]
        for key in ("status", "name", "priority", "assignedUsers"):
            if key in body:
                attributes[key] = body[key]
        attributes["custom"].update(body.get("custom") or {})
        attributes["updatedAt"] = iso_z(time.time(), millis=True)
        return Answer(200, {"data": conversation})

    def append_tags(self, req: Request, id: str) -> Answer:
        conversation = self.conversations.get(id)
        if conversation is None:
            return self.not_found()
        names = req.json()
        if isinstance(names, dict):
            names = names.get("tags")
        if not isinstance(names, list):
            return self.error(400, "invalid", "body must be a list of tag names")
        tags = conversation["attributes"]["tags"]
        tags.extend(t for t in map(self._tag, names) if t not in tags)
        return Answer(200, {"data": conversation})

    def create_attachment(self, req: Request) -> Answer:
        body = req.json() or {}
        if not (body.get("name") and body.get("contentType")):
            return self.error(400, "invalid", "name and contentType are required")
        attachment_id = self.oid()
        key = f"attachments/{attachment_id}/{body['name']}"
        self.attachments[attachment_id] = {
            "type": "attachment",
            "id": attachment_id,
            "attributes": {**body, "status": "pending", "key": key},
        }
        upload = {
            "url": f"{req.root}/_storage/kustomer/{attachment_id}",
            "fields": {"key": key, "policy": "ZmFrZQ==", "x-amz-signature": "fake"},
        }
        return Answer(201, {"data": self.attachments[attachment_id], "meta": {"upload": upload}})

    def storage_upload(self, req: Request, attachment_id: str) -> Answer:
        """The presigned POST: anyone with the URL may upload; S3 wants the file last."""
        attachment = self.attachments.get(attachment_id)
        if attachment is None or not req.is_multipart():
            return Answer(403, b"<Error><Code>AccessDenied</Code></Error>")
        fields, files, order = req.form()
        if not files or order[-1] != "file" or fields.get("key") != attachment["attributes"]["key"]:
            return Answer(400, b"<Error><Code>InvalidArgument</Code></Error>")
        attributes = attachment["attributes"]
        attributes["status"] = "uploaded"
        attributes["uploadedSize"] = len(files[-1][3])
        attributes["sha256"] = hashlib.sha256(files[-1][3]).hexdigest()
        attributes["uploadHadAuthorization"] = "Authorization" in req.headers
        return Answer(204)

    def add_note(self, req: Request, id: str) -> Answer:
        conversation = self.conversations.get(id)
        if conversation is None:
            return self.not_found()
        body = req.json() or {}
        if not 1 <= len(body.get("body") or "") <= 10_240:
            return self.error(400, "invalid", "body must be 1..10240 characters")
        for ref in body.get("attachments") or []:
            attachment = self.attachments.get(ref.get("_id"))
            if attachment is None or attachment["attributes"]["status"] != "uploaded":
                return self.error(400, "invalid", "attachment not uploaded")
        note_id = self.oid()
        self.notes[note_id] = {
            "type": "note",
            "id": note_id,
            "attributes": {
                "body": body["body"],
                "attachments": body.get("attachments") or [],
                "createdAt": iso_z(time.time(), millis=True),
            },
            "relationships": {"conversation": {"data": {"type": "conversation", "id": id}}},
        }
        conversation["attributes"]["noteCount"] += 1
        return Answer(201, {"data": self.notes[note_id]})

    def collections(self) -> dict[str, dict[str, Any]]:
        return {
            "customers": self.customers,
            "conversations": self.conversations,
            "notes": self.notes,
            "attachments": self.attachments,
            "tags": {tag_id: {"name": name} for name, tag_id in self.tags.items()},
        }
