"""Zendesk Support tickets (API v2).

- Auth: HTTP Basic ``{email}/token:{api_token}``.
- Create: ``POST /api/v2/tickets`` with ``Idempotency-Key`` (the same key and body
  replay the first answer, ``x-idempotency-lookup: hit``; another body is a 400
  ``IdempotentRequestError``) and the session key in ``external_id``;
  ``GET /api/v2/tickets?external_id=`` finds it again (a list, not the lagging search).
  https://developer.zendesk.com/api-reference/ticketing/introduction/#idempotency
- Requester: the end user, made or found by ``POST /api/v2/users/create_or_update``
  (matched on ``external_id`` = the end user id, else e-mail), sent as ``requester_id``.
  https://developer.zendesk.com/api-reference/ticketing/users/users/#create-or-update-user
- The agent: the Zendesk agent with the platform agent's e-mail (``GET /users/search``,
  cached; agents are long-standing, so the search index's lag does not matter here).
  https://developer.zendesk.com/api-reference/ticketing/users/users/#search-users
- ``closed`` tickets are locked (422 on update): the session goes to a follow-up
  ticket, ``via_followup_source_id``; ``solved`` ones reopen with ``status: open``.
  https://developer.zendesk.com/documentation/ticketing/managing-tickets/creating-and-updating-tickets
- Files attach to comments only: ``POST /uploads`` gives a token (it expires: upload
  right before use) that a private comment carries (``PUT /tickets/{id}``).
  https://developer.zendesk.com/documentation/ticketing/managing-tickets/adding-ticket-attachments-with-the-api
- Usage: ``X-Rate-Limit`` / ``X-Rate-Limit-Remaining`` per minute on every answer.
  https://developer.zendesk.com/api-reference/introduction/rate-limits
"""

from __future__ import annotations

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
from shared.crm.errors import CrmRejected, RecordClosed
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
        event_hooks: dict[str, list[Any]] | None = None,
        on_usage: Usage | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._settings = settings
        self._requesters: FetchedOnce[str, int] = FetchedOnce()
        self._agents: FetchedOnce[str, int | None] = FetchedOnce()
        super().__init__(
            throttle_default=throttle_default,
            event_hooks=event_hooks,
            on_usage=on_usage,
            base_url=f"{self._base}/api/v2",
            auth=httpx.BasicAuth(f"{settings.email}/token", settings.api_token.get_secret_value()),
            headers={"Accept": "application/json"},
            timeout=timeout,
        )

    def record_url(self, ticket_id: Any) -> str:
        return f"{self._base}/agent/tickets/{ticket_id}"

    def usage(self, response: httpx.Response) -> tuple[int, int, float] | None:
        remaining = response.headers.get("x-rate-limit-remaining")
        limit = response.headers.get("x-rate-limit")
        if remaining is None or limit is None:
            return None
        return int(remaining), int(limit), 60.0

    def create_record(self, record: NewRecord, *, follow_up_of: str | None = None) -> RecordRef:
        ticket = self._ticket(record)
        if follow_up_of:
            ticket["via_followup_source_id"] = int(follow_up_of)
        try:
            response = self._send(
                "create",
                "POST",
                "/tickets",
                json={"ticket": ticket},
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
        created = response.json()["ticket"]
        log.info(
            "zendesk ticket %s for %s (idempotency %s)",
            created["id"],
            record.external_id,
            response.headers.get("x-idempotency-lookup", "n/a"),
        )
        return RecordRef(str(created["id"]), self.record_url(created["id"]))

    def _ticket(self, record: NewRecord) -> dict[str, Any]:
        ticket: dict[str, Any] = {
            "subject": record.title,
            "comment": {"body": record.description, "public": False},
            "external_id": record.external_id,
            "tags": list(record.tags),
        }
        requester = self._requester(record)
        if requester is not None:
            ticket["requester_id"] = requester
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
        if who.is_admin and who.user_id:
            ticket["assignee_id"] = int(who.user_id) if who.user_id.isdigit() else who.user_id
        elif who.email:
            agent = self._agent(who.email)
            if agent is not None:
                ticket["assignee_id"] = agent
        return ticket

    def _agent(self, email: str) -> int | None:
        """The agent's Zendesk user by e-mail (cached, misses too): none, the CRM decides."""
        return self._agents.get(email, lambda: self._search_agent(email))

    def _search_agent(self, email: str) -> int | None:
        found = self._send(
            "agent", "GET", "/users/search", params={"query": f"email:{email} role:agent"}
        ).json()
        users = [u for u in found.get("users") or [] if u.get("role") in ("agent", "admin")]
        return int(users[0]["id"]) if users else None

    def _requester(self, record: NewRecord) -> int | None:
        """The end user as a Zendesk user: made or found in one idempotent call, cached."""
        key = record.end_user_id or record.end_user_email or record.end_user_phone
        if not key:
            return None
        return self._requesters.get(key, lambda: self._create_or_update_user(record, key))

    def _create_or_update_user(self, record: NewRecord, key: str) -> int:
        user: dict[str, Any] = {"name": record.end_user_name or key, "role": "end-user"}
        if record.end_user_id:
            user["external_id"] = record.end_user_id
        if record.end_user_email:
            user["email"] = record.end_user_email
        if record.end_user_phone:
            user["phone"] = record.end_user_phone
        answer = self._send(
            "requester", "POST", "/users/create_or_update", json={"user": user}
        ).json()
        return int(answer["user"]["id"])

    def find_by_external_id(self, external_id: str) -> RecordRef | None:
        response = self._send("find", "GET", "/tickets", params={"external_id": external_id})
        tickets = response.json().get("tickets") or []
        if not tickets:
            return None
        first = min(tickets, key=lambda t: t["id"])  # external_id is not unique: the oldest wins
        return RecordRef(str(first["id"]), self.record_url(first["id"]))

    def get_record(self, record_id: str) -> ExistingRecord | None:
        try:
            ticket = self._send("read", "GET", f"/tickets/{record_id}").json()["ticket"]
        except CrmRejected as exc:
            if exc.status == 404:
                return None
            raise
        status = ticket.get("status")
        is_open = status in OPEN_STATUSES
        fields = {str(f.get("id")): f.get("value") for f in ticket.get("custom_fields") or []}
        return ExistingRecord(
            id=str(ticket["id"]),
            url=self.record_url(ticket["id"]),
            is_open=is_open,
            created_at=created_time(ticket["created_at"]),
            closed_at=None if is_open else parse_time(ticket.get("updated_at")),
            end_user_id=_text(fields.get(str(self._settings.end_user_field_id))),
            leaf_queue=_text(fields.get(str(self._settings.leaf_queue_field_id))),
            locked=status == "closed",
            status=status,
        )

    def reopen(self, record_id: str) -> None:
        try:
            self._send(
                "reopen", "PUT", f"/tickets/{record_id}", json={"ticket": {"status": "open"}}
            )
        except CrmRejected as exc:
            raise _closed(exc) from None
        log.info("zendesk ticket %s reopened", record_id)

    def add_note(self, record_id: str, body: str) -> None:
        comment = {"body": body, "public": False}
        try:
            self._send(
                "note", "PUT", f"/tickets/{record_id}", json={"ticket": {"comment": comment}}
            )
        except CrmRejected as exc:
            raise _closed(exc) from None

    def notes(self, record_id: str) -> list[str]:
        return [c.get("body") or "" for c in self._comments(record_id)]

    def _comments(self, record_id: str) -> list[dict[str, Any]]:
        answer = self._send("comments", "GET", f"/tickets/{record_id}/comments").json()
        return answer.get("comments") or []

    def find_file(self, record_id: str, marker: str) -> str | None:
        for comment in self._comments(record_id):
            if marker and marker in (comment.get("body") or "") and comment.get("attachments"):
                return str(comment["attachments"][0]["id"])
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
        upload = self._send(
            "upload",
            "POST",
            "/uploads",
            params={"filename": filename},
            content=content,
            headers={"Content-Type": content_type},
        ).json()["upload"]
        body = f"Session metadata file {marker or filename}"
        if replaces:
            body += f" (supersedes attachment {replaces})"
        comment = {"body": body, "public": False, "uploads": [upload["token"]]}
        try:
            self._send(
                "comment", "PUT", f"/tickets/{record_id}", json={"ticket": {"comment": comment}}
            )
        except CrmRejected as exc:
            raise _closed(exc) from None
        attachment_id = str((upload.get("attachment") or {}).get("id") or upload["token"])
        log.info("zendesk ticket %s: attached %s (%s)", record_id, filename, attachment_id)
        return attachment_id


def _closed(exc: CrmRejected) -> CrmRejected:
    """A 422 naming the ticket's ``closed`` status: the ticket is locked for good."""
    if exc.status == 422 and "closed" in exc.detail.lower():
        return RecordClosed(exc.crm, exc.operation, exc.detail, exc.status)
    return exc


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)
