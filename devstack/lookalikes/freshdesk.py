"""Look-alike Freshdesk API v2: tickets, notes, conversations, contacts, agents, filter search.

Each behaviour a client may depend on, with the page that documents it
(https://developers.freshdesk.com/api/ unless said otherwise):
- No idempotency key and no ticket external id: every create makes a ticket.
- A custom field the account does not have (``cf_*``) is a 400 ``invalid_field``
  ("Unexpected/invalid field in request"); so is an unknown top-level field.
- The filter API (``/search/tickets``) wants the query in double quotes and its
  index lags behind writes by minutes (#filter_tickets).
- Contacts: ``GET /contacts?email=|phone=|unique_external_id=``; a second contact
  with the same e-mail, phone or external id is a 409 ``duplicate_value`` (#contacts).
- Agents: ``GET /agents?email=`` (#agents); ``requester_id``/``responder_id`` must exist.
- 429 with ``Retry-After``; ``X-RateLimit-Total`` / ``-Remaining`` /
  ``-Used-CurrentRequest`` on every answer (#ratelimit).
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

from devstack.lookalikes.common import (
    AGENTS,
    Answer,
    FakeCrm,
    Request,
    basic_credentials,
    iso_z,
)

FRESHDESK_CONDITION = re.compile(r"^(\w+):(?:'([^']*)'|(\S+))$")
# The account's custom ticket fields (an admin created these); others are refused.
CUSTOM_FIELDS = frozenset({"cf_ccaip_session_id", "cf_ccaip_end_user_id", "cf_ccaip_leaf_queue"})
TICKET_FIELDS = frozenset(
    {
        "subject",
        "description",
        "status",
        "priority",
        "source",
        "tags",
        "custom_fields",
        "requester_id",
        "responder_id",
        "email",
        "phone",
        "name",
        "unique_external_id",
        "group_id",
        "type",
        "cc_emails",
        "due_by",
        "fr_due_by",
        "attachments[]",
    }
)
CONTACT_KEYS = ("email", "phone", "mobile", "unique_external_id")


class FakeFreshdesk(FakeCrm):
    name = "freshdesk"

    def __init__(self, hub: Any) -> None:
        super().__init__(hub)
        self.route("POST", "/api/v2/tickets", self.create_ticket, "/api/v2/tickets")
        self.route("GET", r"/api/v2/tickets/(?P<id>\d+)", self.show_ticket, "/tickets/{id}")
        self.route("PUT", r"/api/v2/tickets/(?P<id>\d+)", self.update_ticket, "/tickets/{id}")
        self.route(
            "POST", r"/api/v2/tickets/(?P<id>\d+)/notes", self.add_note, "/tickets/{id}/notes"
        )
        self.route("GET", "/api/v2/search/tickets", self.search, "/api/v2/search/tickets")
        self.route(
            "GET",
            r"/api/v2/tickets/(?P<id>\d+)/conversations",
            self.conversations,
            "/tickets/{id}/conversations",
        )
        self.route("GET", "/api/v2/contacts", self.list_contacts, "/api/v2/contacts")
        self.route("POST", "/api/v2/contacts", self.create_contact, "/api/v2/contacts")
        self.route("GET", "/api/v2/agents", self.list_agents, "/api/v2/agents")

    def reset(self) -> None:
        super().reset()
        self.tickets: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, dict[str, Any]] = {}
        self.contact_records: dict[int, dict[str, Any]] = {}
        self.extra_agents: set[int] = set()
        self.attachment_ids = 1

    def authorized(self, req: Request) -> bool:
        credentials = basic_credentials(req)
        return credentials is not None and bool(credentials[0])  # "{api_key}:X"

    def unauthorized(self) -> Answer:
        return Answer(
            401,
            {
                "code": "invalid_credentials",
                "message": "You have to be logged in to perform this action.",
            },
        )

    def not_found(self) -> Answer:
        return Answer(404, {"code": "not_found", "message": "Resource not found"})

    def usage_headers(self, now: float) -> dict[str, str]:
        limit = self.hub.limits.per_minute or 400
        return {
            "X-RateLimit-Total": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - len(self.minute))),
            "X-RateLimit-Used-CurrentRequest": "1",
        }

    @staticmethod
    def invalid(field_name: str, message: str, code: str = "invalid_value") -> Answer:
        errors = [{"field": field_name, "message": message, "code": code}]
        return Answer(400, {"description": "Validation failed", "errors": errors})

    def _attachments(self, files: list[tuple[str, str, str, bytes]], base: str) -> list[dict]:
        out = []
        for name, filename, content_type, content in files:
            if name != "attachments[]":
                continue
            attachment_id, self.attachment_ids = self.attachment_ids, self.attachment_ids + 1
            out.append(
                {
                    "id": attachment_id,
                    "name": filename,
                    "content_type": content_type,
                    "size": len(content),
                    "attachment_url": f"{base}/attachments/{attachment_id}",
                    "sha256": hashlib.sha256(content).hexdigest(),
                }
            )
        return out

    def create_ticket(self, req: Request) -> Answer:
        files: list[tuple[str, str, str, bytes]] = []
        if req.is_multipart():
            fields, files, _ = req.form()
            body: dict[str, Any] = dict(fields)
        else:
            body = req.json() or {}
        for required in ("subject", "description"):
            if not body.get(required):
                return self.invalid(required, "It should not be blank", "missing_field")
        for name in body:
            if name not in TICKET_FIELDS and not name.startswith("custom_fields["):
                return self.invalid(name, "Unexpected/invalid field in request", "invalid_field")
        for name in body.get("custom_fields") or {}:
            if name not in CUSTOM_FIELDS:
                return self.invalid(name, "Unexpected/invalid field in request", "invalid_field")
        if body.get("requester_id") is not None and int(body["requester_id"]) not in {
            c["id"] for c in self.contact_records.values()
        }:
            return self.invalid(
                "requester_id", "There is no contact matching the given requester_id"
            )
        if body.get("responder_id") is not None and int(body["responder_id"]) not in (
            set(AGENTS.values()) | self.extra_agents
        ):
            return self.invalid("responder_id", "There is no agent matching the given responder_id")
        requester = ("requester_id", "email", "phone", "unique_external_id")
        if not any(body.get(name) for name in requester):
            return self.invalid(
                "requester_id",
                "Please fill at least 1 of requester_id, phone, email, unique_external_id fields",
                "missing_field",
            )
        now = time.time()
        ticket_id = self.new_id()
        ticket = {
            "id": ticket_id,
            "subject": body["subject"],
            "description": body["description"],
            "description_text": re.sub(r"<[^>]+>", " ", body["description"]),
            "status": int(body.get("status") or 2),
            "priority": int(body.get("priority") or 1),
            "source": int(body.get("source") or 2),
            "tags": list(body.get("tags") or []),
            "custom_fields": dict(body.get("custom_fields") or {}),
            "requester_id": body.get("requester_id") or self._contact(body),
            "responder_id": body.get("responder_id"),
            "created_at": iso_z(now),
            "updated_at": iso_z(now),
            "attachments": self._attachments(files, req.base),
        }
        self.tickets[ticket_id] = ticket
        self.created(ticket_id, now)
        return Answer(201, ticket, {"Location": f"{req.base}/api/v2/tickets/{ticket_id}"})

    def _contact(self, body: dict[str, Any]) -> int:
        """The requester named by e-mail, phone or external id: found, else created."""
        for contact in self.contact_records.values():
            if any(body.get(k) and contact.get(k) == body.get(k) for k in CONTACT_KEYS):
                return contact["id"]
        contact_id = 1000 + len(self.contact_records)
        self.contact_records[contact_id] = {
            "id": contact_id,
            "name": body.get("name") or "",
            **{k: body.get(k) for k in CONTACT_KEYS},
        }
        return contact_id

    def list_contacts(self, req: Request) -> Answer:
        wanted = {k: v for k, v in req.query.items() if k in CONTACT_KEYS}
        found = [
            c
            for c in self.contact_records.values()
            if all(c.get(k) == v for k, v in wanted.items())
        ]
        return Answer(200, found)

    def create_contact(self, req: Request) -> Answer:
        body = req.json() or {}
        if not body.get("name"):
            return self.invalid("name", "It should not be blank", "missing_field")
        if not any(body.get(k) for k in CONTACT_KEYS):
            return self.invalid(
                "email",
                "Please fill at least 1 of email, mobile, phone, unique_external_id",
                "missing_field",
            )
        for contact in self.contact_records.values():
            for key in CONTACT_KEYS:
                if body.get(key) and contact.get(key) == body.get(key):
                    errors = [
                        {
                            "field": key,
                            "message": f"It should be a unique value; contact {contact['id']}",
                            "code": "duplicate_value",
                            "additional_info": {"user_id": contact["id"]},
                        }
                    ]
                    return Answer(409, {"description": "Validation failed", "errors": errors})
        return Answer(201, self.contact_records[self._contact(body)])

    def list_agents(self, req: Request) -> Answer:
        email = req.query.get("email")
        found = [
            {"id": agent_id, "contact": {"email": address}}
            for address, agent_id in AGENTS.items()
            if email in (None, address)
        ]
        return Answer(200, found)

    def conversations(self, req: Request, id: str) -> Answer:
        if int(id) not in self.tickets:
            return self.not_found()
        notes = [n for n in self.notes.values() if n["ticket_id"] == int(id)]
        return Answer(200, [{**n, "body_text": re.sub(r"<[^>]+>", " ", n["body"])} for n in notes])

    def show_ticket(self, req: Request, id: str) -> Answer:
        ticket = self.tickets.get(int(id))
        return Answer(200, ticket) if ticket else self.not_found()

    def update_ticket(self, req: Request, id: str) -> Answer:
        ticket = self.tickets.get(int(id))
        if ticket is None:
            return self.not_found()
        body = req.json() or {}
        if "status" in body and body["status"] not in (2, 3, 4, 5):
            return self.invalid("status", "It should be one of these values: '2,3,4,5'")
        for key in ("status", "priority", "subject", "tags", "responder_id"):
            if key in body:
                ticket[key] = body[key]
        ticket["custom_fields"].update(body.get("custom_fields") or {})
        ticket["updated_at"] = iso_z(time.time())
        return Answer(200, ticket)

    def add_note(self, req: Request, id: str) -> Answer:
        ticket = self.tickets.get(int(id))
        if ticket is None:
            return self.not_found()
        files: list[tuple[str, str, str, bytes]] = []
        if req.is_multipart():
            fields, files, _ = req.form()
            body: dict[str, Any] = dict(fields)
        else:
            body = req.json() or {}
        if not body.get("body"):
            return self.invalid("body", "It should not be blank", "missing_field")
        note_id = 5000 + len(self.notes) + 1
        note = {
            "id": note_id,
            "ticket_id": ticket["id"],
            "body": body["body"],
            "private": str(body.get("private", "true")).lower() != "false",
            "attachments": self._attachments(files, req.base),
            "created_at": iso_z(time.time()),
        }
        self.notes[note_id] = note
        ticket["updated_at"] = note["created_at"]
        return Answer(201, note)

    def search(self, req: Request) -> Answer:
        raw = req.query.get("query", "")
        if len(raw) < 2 or not (raw.startswith('"') and raw.endswith('"')):
            return self.invalid("query", "Query should be enclosed in double quotes")
        conditions = []
        for part in re.split(r"\s+AND\s+", raw[1:-1].strip()):
            match = FRESHDESK_CONDITION.match(part.strip())
            if match is None:
                return self.invalid("query", f"Unsupported condition: {part}")
            conditions.append((match[1], match[2] if match[2] is not None else match[3]))
        now = time.time()
        found = [
            t
            for t in self.tickets.values()
            if self.searchable(t["id"], now) and all(self._matches(t, c) for c in conditions)
        ]
        found.sort(key=lambda t: t["created_at"], reverse=True)
        return Answer(200, {"results": found, "total": len(found)})

    @staticmethod
    def _matches(ticket: dict[str, Any], condition: tuple[str, str]) -> bool:
        name, value = condition
        if name == "tag":
            return value in ticket["tags"]
        have = ticket["custom_fields"].get(name, ticket.get(name))
        return have is not None and str(have) == value

    def collections(self) -> dict[str, dict[str, Any]]:
        return {
            "tickets": {str(k): v for k, v in self.tickets.items()},
            "notes": {str(k): v for k, v in self.notes.items()},
            "contacts": {str(k): v for k, v in self.contact_records.items()},
        }
