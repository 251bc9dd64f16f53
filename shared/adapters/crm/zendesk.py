"""Zendesk Support tickets (API v2).

- Auth: HTTP Basic ``{email}/token:{api_token}``.
- Create: ``POST /api/v2/tickets`` with ``Idempotency-Key`` (Zendesk replays the
  first answer for the same key, ``x-idempotency-lookup: hit``) and the session
  key in ``external_id``; ``GET /api/v2/tickets?external_id=`` finds it again
  (the list endpoint, not the lagging search index).
- Same end user and leaf queue: two ticket custom fields, found with
  ``/api/v2/search.json`` (which lags by minutes: fine for earlier sessions).
- Files attach to comments only: ``POST /uploads`` gives a token that a
  private comment carries (``PUT /tickets/{id}``).
- ``solved`` tickets reopen with ``status: open``; ``closed`` ones are locked
  and never offered as candidates.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from shared.adapters.crm.base import HttpCrm, RecordRef, parse_time
from shared.crm.errors import CrmRejected
from shared.crm.rules import ExistingRecord, NewRecord
from shared.crm.settings import ZendeskSettings

log = logging.getLogger(__name__)

OPEN_STATUSES = frozenset({"new", "open", "pending", "hold"})


class ZendeskClient(HttpCrm):
    name = "zendesk"

    def __init__(
        self,
        base_url: str,
        settings: ZendeskSettings,
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
            auth=httpx.BasicAuth(f"{settings.email}/token", settings.api_token.get_secret_value()),
            headers={"Accept": "application/json"},
            timeout=timeout,
        )

    def record_url(self, ticket_id: Any) -> str:
        return f"{self._base}/agent/tickets/{ticket_id}"

    def create_record(self, record: NewRecord) -> RecordRef:
        try:
            response = self._send(
                "create",
                "POST",
                "/tickets",
                json={"ticket": self._ticket(record)},
                headers={"Idempotency-Key": f"{record.external_id}-create"},
            )
        except CrmRejected as exc:
            # Same key, other body: the first attempt created the ticket and the
            # session moved on since. The ticket is the one to use.
            if exc.status == 400 and "IdempotentRequestError" in exc.detail:
                found = self.find_by_external_id(record.external_id)
                if found is not None:
                    return found
            raise
        ticket = response.json()["ticket"]
        log.info(
            "zendesk ticket %s for %s (idempotency %s)",
            ticket["id"],
            record.external_id,
            response.headers.get("x-idempotency-lookup", "n/a"),
        )
        return RecordRef(str(ticket["id"]), self.record_url(ticket["id"]))

    def _ticket(self, record: NewRecord) -> dict[str, Any]:
        ticket: dict[str, Any] = {
            "subject": record.title,
            "comment": {"body": record.description, "public": False},
            "external_id": record.external_id,
            "tags": list(record.tags),
        }
        fields = [
            {"id": field_id, "value": value}
            for field_id, value in (
                (self._settings.end_user_field_id, record.end_user_id),
                (self._settings.leaf_queue_field_id, record.leaf_queue),
            )
            if field_id and value
        ]
        if fields:
            ticket["custom_fields"] = fields
        who = record.assignee
        if not who.is_admin and who.email:
            ticket["assignee_email"] = who.email
        elif who.is_admin and who.user_id:
            ticket["assignee_id"] = int(who.user_id) if who.user_id.isdigit() else who.user_id
        return ticket

    def find_by_external_id(self, external_id: str) -> RecordRef | None:
        response = self._send("find", "GET", "/tickets", params={"external_id": external_id})
        tickets = response.json().get("tickets") or []
        if not tickets:
            return None
        first = min(tickets, key=lambda t: t["id"])  # external_id is not unique: the oldest wins
        return RecordRef(str(first["id"]), self.record_url(first["id"]))

    def find_recent_records(self, end_user_id: str, leaf_queue: str) -> list[ExistingRecord]:
        user_field = self._settings.end_user_field_id
        queue_field = self._settings.leaf_queue_field_id
        if not (user_field and queue_field):
            log.warning(
                "zendesk: end user / leaf queue fields not configured; nothing to attach to"
            )
            return []
        query = (
            f'type:ticket custom_field_{user_field}:"{end_user_id}" '
            f'custom_field_{queue_field}:"{leaf_queue}"'
        )
        response = self._send(
            "search",
            "GET",
            "/search.json",
            params={"query": query, "sort_by": "created_at", "sort_order": "desc"},
        )
        out = []
        for ticket in response.json().get("results") or []:
            status = ticket.get("status")
            if ticket.get("result_type", "ticket") != "ticket" or status == "closed":
                continue  # closed tickets are locked: they cannot take a session
            is_open = status in OPEN_STATUSES
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
        self._send("reopen", "PUT", f"/tickets/{record_id}", json={"ticket": {"status": "open"}})
        log.info("zendesk ticket %s reopened", record_id)

    def attach_file(
        self,
        record_id: str,
        filename: str,
        content: bytes,
        content_type: str,
        replaces: str | None = None,
    ) -> str:
        upload = self._send(
            "upload",
            "POST",
            "/uploads",
            params={"filename": filename},
            content=content,
            headers={"Content-Type": content_type},
        ).json()["upload"]
        body = f"Session metadata file {filename}"
        if replaces:
            body += f" (supersedes attachment {replaces})"
        comment = {"body": body, "public": False, "uploads": [upload["token"]]}
        self._send("comment", "PUT", f"/tickets/{record_id}", json={"ticket": {"comment": comment}})
        attachment_id = str((upload.get("attachment") or {}).get("id") or upload["token"])
        log.info("zendesk ticket %s: attached %s (%s)", record_id, filename, attachment_id)
        return attachment_id
