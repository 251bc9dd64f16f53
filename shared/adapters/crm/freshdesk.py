"""Freshdesk tickets (API v2).

- Auth: HTTP Basic with the API key as user and ``X`` as password.
- Create: ``POST /api/v2/tickets``. Freshdesk has no idempotency key and no
  ticket external id: the session key goes to a custom field, and our Firestore
  claim is what prevents a second ticket. ``find_by_external_id`` uses the filter
  API (``/search/tickets``), whose index lags by minutes: after a crash the use
  case waits ``index_lag_seconds`` since the lost create before trusting a miss.
  https://developers.freshdesk.com/api/#filter_tickets
- Requester: the end user's contact, found by ``unique_external_id`` (else e-mail,
  phone) and created when missing; a 409 (another worker made it first) is read again.
  https://developers.freshdesk.com/api/#contacts
- The agent: found by e-mail (``GET /api/v2/agents?email=``, cached), as ``responder_id``.
  https://developers.freshdesk.com/api/#agents
- Statuses: 2 Open, 3 Pending (open); 4 Resolved, 5 Closed (closed). Reopen = status 2.
- Files: multipart ``attachments[]`` on a private note (``POST /tickets/{id}/notes``);
  ``GET /tickets/{id}/conversations`` shows what is there already.
- Usage: ``X-RateLimit-Total`` / ``X-RateLimit-Remaining`` per minute on every answer.
  https://developers.freshdesk.com/api/#ratelimit
"""

from __future__ import annotations

import html
import logging
from typing import Any

import httpx

from shared.adapters.crm.base import (
    FetchedOnce,
    HttpCrm,
    RecordRef,
    Usage,
    created_time,
    parse_time,
)
from shared.crm.errors import CrmRejected
from shared.crm.rules import ExistingRecord, NewRecord
from shared.crm.settings import FreshdeskSettings

log = logging.getLogger(__name__)

OPEN, PENDING = 2, 3
SOURCE = {"voice": 3, "chat": 7}  # Phone, Chat
PRIORITY_LOW = 1


class FreshdeskClient(HttpCrm):
    name = "freshdesk"

    def __init__(
        self,
        base_url: str,
        settings: FreshdeskSettings,
        *,
        throttle_default: float = 60.0,
        timeout: float = 10.0,
        event_hooks: dict[str, list[Any]] | None = None,
        on_usage: Usage | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._settings = settings
        self.index_lag_seconds = settings.index_lag_seconds
        self._contacts: FetchedOnce[str, int] = FetchedOnce()
        self._agents: FetchedOnce[str, int | None] = FetchedOnce()
        super().__init__(
            throttle_default=throttle_default,
            event_hooks=event_hooks,
            on_usage=on_usage,
            base_url=f"{self._base}/api/v2",
            auth=httpx.BasicAuth(settings.api_key.get_secret_value(), "X"),
            headers={"Accept": "application/json"},
            timeout=timeout,
        )

    def record_url(self, ticket_id: Any) -> str:
        return f"{self._base}/a/tickets/{ticket_id}"

    def usage(self, response: httpx.Response) -> tuple[int, int, float] | None:
        remaining = response.headers.get("x-ratelimit-remaining")
        limit = response.headers.get("x-ratelimit-total")
        if remaining is None or limit is None:
            return None
        return int(remaining), int(limit), 60.0

    def create_record(self, record: NewRecord, *, follow_up_of: str | None = None) -> RecordRef:
        s = self._settings
        custom = {
            s.session_id_field: record.external_id,
            s.end_user_field: record.end_user_id,
            s.leaf_queue_field: record.leaf_queue,
        }
        ticket: dict[str, Any] = {
            "subject": record.title,
            "description": html.escape(record.description).replace("\n", "<br>"),
            "status": OPEN,
            "priority": PRIORITY_LOW,
            "source": SOURCE.get(record.channel, 3),
            "tags": list(record.tags),
            "custom_fields": {name: value for name, value in custom.items() if name and value},
        }
        requester = self._contact(record)
        if requester is not None:
            ticket["requester_id"] = requester
        else:
            ticket["email"] = s.default_requester_email
        responder = self._responder(record)
        if responder is not None:
            ticket["responder_id"] = responder
        created = self._send("create", "POST", "/tickets", json=ticket).json()
        log.info("freshdesk ticket %s for %s", created["id"], record.external_id)
        return RecordRef(str(created["id"]), self.record_url(created["id"]))

    def _contact(self, record: NewRecord) -> int | None:
        """The end user's contact id: looked up, created when missing, a 409 read again."""
        candidates = [
            ("unique_external_id", record.end_user_id),
            ("email", record.end_user_email),
            ("phone", record.end_user_phone),
        ]
        lookups = [(name, value) for name, value in candidates if value]
        if not lookups:
            return None
        key = f"{lookups[0][0]}:{lookups[0][1]}"
        return self._contacts.get(key, lambda: self._find_or_create_contact(record, lookups))

    def _find_or_create_contact(self, record: NewRecord, lookups: list[tuple[str, str]]) -> int:
        found = self._find_contact(lookups)
        if found is None:
            contact = {name: value for name, value in lookups}
            contact["name"] = record.end_user_name or lookups[0][1]
            try:
                found = self._send("contact", "POST", "/contacts", json=contact).json()["id"]
            except CrmRejected as exc:
                if exc.status != 409:
                    raise
                found = self._find_contact(lookups)  # another worker created it just now
                if found is None:
                    raise
        return int(found)

    def _find_contact(self, lookups: list[tuple[str, str]]) -> int | None:
        for name, value in lookups:
            contacts = self._send("contact", "GET", "/contacts", params={name: value}).json()
            if contacts:
                return int(contacts[0]["id"])
        return None

    def _responder(self, record: NewRecord) -> int | None:
        who = record.assignee
        if who.is_admin:
            return int(who.user_id) if who.user_id and who.user_id.isdigit() else None
        if not who.email:
            return None
        email = who.email
        return self._agents.get(email, lambda: self._find_agent(email))

    def _find_agent(self, email: str) -> int | None:
        agents = self._send("agent", "GET", "/agents", params={"email": email}).json()
        return int(agents[0]["id"]) if agents else None

    def find_by_external_id(self, external_id: str) -> RecordRef | None:
        results = self._search(f"{self._settings.session_id_field}:'{_value(external_id)}'")
        if not results:
            return None
        first = min(results, key=lambda t: t["id"])
        return RecordRef(str(first["id"]), self.record_url(first["id"]))

    def get_record(self, record_id: str) -> ExistingRecord | None:
        try:
            ticket = self._send("read", "GET", f"/tickets/{record_id}").json()
        except CrmRejected as exc:
            if exc.status == 404:
                return None
            raise
        s = self._settings
        custom = ticket.get("custom_fields") or {}
        is_open = ticket.get("status") in (OPEN, PENDING)
        return ExistingRecord(
            id=str(ticket["id"]),
            url=self.record_url(ticket["id"]),
            is_open=is_open,
            created_at=created_time(ticket["created_at"]),
            closed_at=None if is_open else parse_time(ticket.get("updated_at")),
            end_user_id=custom.get(s.end_user_field),
            leaf_queue=custom.get(s.leaf_queue_field),
            status=str(ticket.get("status")),
        )

    def reopen(self, record_id: str) -> None:
        self._send("reopen", "PUT", f"/tickets/{record_id}", json={"status": OPEN})
        log.info("freshdesk ticket %s reopened", record_id)

    def add_note(self, record_id: str, body: str) -> None:
        note = {"body": html.escape(body), "private": True}
        self._send("note", "POST", f"/tickets/{record_id}/notes", json=note)

    def _conversations(self, record_id: str) -> list[dict[str, Any]]:
        path = f"/tickets/{record_id}/conversations"
        return self._send("notes", "GET", path, params={"per_page": 100}).json() or []

    def notes(self, record_id: str) -> list[str]:
        return [
            html.unescape(c.get("body_text") or c.get("body") or "")
            for c in self._conversations(record_id)
        ]

    def find_file(self, record_id: str, marker: str) -> str | None:
        for note in self._conversations(record_id):
            body = html.unescape(note.get("body_text") or note.get("body") or "")
            if marker and marker in body and note.get("attachments"):
                return str(note["attachments"][0]["id"])
        return None

    def attach_file(
        self,
        record_id: str,
        filename: str,
        content: bytes,
        content_type: str,
        replaces: str | None = None,
        marker: str = "",
    ) -> str:
        body = f"Session metadata file {html.escape(marker or filename)}"
        if replaces:
            body += f" (supersedes attachment {html.escape(replaces)})"
        note = self._send(
            "attach",
            "POST",
            f"/tickets/{record_id}/notes",
            data={"body": body, "private": "true"},
            files=[("attachments[]", (filename, content, content_type))],
        ).json()
        attachments = note.get("attachments") or [{"id": note["id"]}]
        attachment_id = str(attachments[0]["id"])
        log.info("freshdesk ticket %s: attached %s (%s)", record_id, filename, attachment_id)
        return attachment_id

    def _search(self, query: str) -> list[dict[str, Any]]:
        # The filter API wants the whole query inside double quotes.
        response = self._send("search", "GET", "/search/tickets", params={"query": f'"{query}"'})
        return response.json().get("results") or []


def _value(text: str) -> str:
    """A value inside the filter language's single quotes (it has no escape)."""
    return text.replace("'", "").replace('"', "")
