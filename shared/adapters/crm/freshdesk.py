"""Freshdesk tickets (API v2).

- Auth: HTTP Basic with the API key as user and ``X`` as password.
- Create: ``POST /api/v2/tickets``. Freshdesk has no idempotency key and no
  ticket external id: the session key goes to a custom field, and the caller's
  Firestore claim is what prevents a second ticket. ``find_by_external_id``
  uses the filter API (``/search/tickets``), whose index lags by minutes, so it
  only helps long after a lost answer.
- Statuses: 2 Open, 3 Pending (open); 4 Resolved, 5 Closed (closed). Reopen = status 2.
- Files: multipart ``attachments[]`` on a private note (``POST /tickets/{id}/notes``).
"""

from __future__ import annotations

import html
import logging
from typing import Any

import httpx

from shared.adapters.crm.base import HttpCrm, RecordRef, parse_time
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
        event_hooks: dict[str, list] | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._settings = settings
        super().__init__(
            throttle_default=throttle_default,
            event_hooks=event_hooks,
            base_url=f"{self._base}/api/v2",
            auth=httpx.BasicAuth(settings.api_key.get_secret_value(), "X"),
            headers={"Accept": "application/json"},
            timeout=timeout,
        )

    def record_url(self, ticket_id: Any) -> str:
        return f"{self._base}/a/tickets/{ticket_id}"

    def create_record(self, record: NewRecord) -> RecordRef:
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
        if record.end_user_id:
            ticket["unique_external_id"] = record.end_user_id
        else:
            ticket["email"] = s.default_requester_email
        if record.assignee.is_admin and (record.assignee.user_id or "").isdigit():
            ticket["responder_id"] = int(record.assignee.user_id)
        created = self._send("create", "POST", "/tickets", json=ticket).json()
        log.info("freshdesk ticket %s for %s", created["id"], record.external_id)
        return RecordRef(str(created["id"]), self.record_url(created["id"]))

    def find_by_external_id(self, external_id: str) -> RecordRef | None:
        results = self._search(f"{self._settings.session_id_field}:'{_value(external_id)}'")
        if not results:
            return None
        first = min(results, key=lambda t: t["id"])
        return RecordRef(str(first["id"]), self.record_url(first["id"]))

    def find_recent_records(self, end_user_id: str, leaf_queue: str) -> list[ExistingRecord]:
        s = self._settings
        results = self._search(
            f"{s.end_user_field}:'{_value(end_user_id)}' AND "
            f"{s.leaf_queue_field}:'{_value(leaf_queue)}'"
        )
        out = []
        for ticket in sorted(results, key=lambda t: t["created_at"], reverse=True):
            is_open = ticket.get("status") in (OPEN, PENDING)
            out.append(
                ExistingRecord(
                    id=str(ticket["id"]),
                    url=self.record_url(ticket["id"]),
                    is_open=is_open,
                    created_at=parse_time(ticket["created_at"]),
                    closed_at=None if is_open else parse_time(ticket.get("updated_at")),
                    end_user_id=end_user_id,
                    leaf_queue=leaf_queue,
                )
            )
        return out

    def reopen(self, record_id: str) -> None:
        self._send("reopen", "PUT", f"/tickets/{record_id}", json={"status": OPEN})
        log.info("freshdesk ticket %s reopened", record_id)

    def attach_file(
        self,
        record_id: str,
        filename: str,
        content: bytes,
        content_type: str,
        replaces: str | None = None,
    ) -> str:
        body = f"Session metadata file {html.escape(filename)}"
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
