"""Look-alike Zendesk Support API (tickets, uploads, search)."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from typing import Any

from devstack.lookalikes.common import (
    Answer,
    FakeCrm,
    Request,
    basic_credentials,
    bearer,
    iso_z,
)

IDEMPOTENCY_TTL = 2 * 3600.0  # Zendesk keeps keys about two hours
ZENDESK_STATUS_ORDER = ["new", "open", "pending", "hold", "solved", "closed"]
ZENDESK_TERM = re.compile(r'([\w.]+)(:|<=|>=|<|>)("[^"]*"|\S+)')


class FakeZendesk(FakeCrm):
    name = "zendesk"

    def __init__(self, hub: Any) -> None:
        super().__init__(hub)
        j = r"(?:\.json)?"
        self.route("POST", f"/api/v2/tickets{j}", self.create_ticket, "/api/v2/tickets")
        self.route("GET", f"/api/v2/tickets{j}", self.list_tickets, "/api/v2/tickets")
        self.route("GET", rf"/api/v2/tickets/(?P<id>\d+){j}", self.show_ticket, "/tickets/{id}")
        self.route("PUT", rf"/api/v2/tickets/(?P<id>\d+){j}", self.update_ticket, "/tickets/{id}")
        self.route("POST", f"/api/v2/uploads{j}", self.upload, "/api/v2/uploads")
        self.route("GET", f"/api/v2/search{j}", self.search, "/api/v2/search")

    def reset(self) -> None:
        super().reset()
        self.tickets: dict[int, dict[str, Any]] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[str, tuple[str, float, Answer]] = {}
        self.attachment_ids = 1

    def authorized(self, req: Request) -> bool:
        credentials = basic_credentials(req)
        if credentials is None:
            return bearer(req) is not None
        user, password = credentials
        return user.endswith("/token") and bool(password)  # "{email}/token:{api_token}"

    def usage_headers(self, now: float) -> dict[str, str]:
        limit = self.hub.limits.per_minute or 400
        remaining = max(0, limit - len(self.minute))
        return {"X-Rate-Limit": str(limit), "X-Rate-Limit-Remaining": str(remaining)}

    def public(self, ticket: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in ticket.items() if k != "comments"}

    def create_ticket(self, req: Request) -> Answer:
        key = req.headers.get("Idempotency-Key")
        now = time.time()
        digest = hashlib.sha256(req.body).hexdigest()
        if key:
            seen = self.idempotency.get(key)
            if seen and seen[1] + IDEMPOTENCY_TTL > now:
                if seen[0] != digest:
                    return Answer(
                        400,
                        {
                            "error": "IdempotentRequestError",
                            "description": "Request parameters don't match the original request",
                        },
                    )
                first = seen[2]
                headers = {**first.headers, "x-idempotency-lookup": "hit"}
                return Answer(first.status, first.body, headers)
        answer = self._create(req, now)
        if key and answer.status == 201:
            self.idempotency[key] = (digest, now, answer)
            answer.headers["x-idempotency-lookup"] = "miss"
        return answer

    def _create(self, req: Request, now: float) -> Answer:
        body = (req.json() or {}).get("ticket")
        if not isinstance(body, dict) or not (body.get("comment") or body.get("description")):
            return Answer(
                422,
                {
                    "error": "RecordInvalid",
                    "description": "Record validation errors",
                    "details": {"description": [{"description": "Description: cannot be blank"}]},
                },
            )
        ticket_id = self.new_id()
        comment = body.get("comment") or {"body": body.get("description"), "public": True}
        assigned = body.get("assignee_id") or body.get("assignee_email")
        ticket = {
            "id": ticket_id,
            "url": f"{req.base}/api/v2/tickets/{ticket_id}.json",
            "external_id": body.get("external_id"),
            "subject": body.get("subject"),
            "description": comment.get("body"),
            "status": body.get("status") or ("open" if assigned else "new"),
            "tags": sorted({str(t).lower() for t in body.get("tags") or []}),
            "custom_fields": body.get("custom_fields") or [],
            "assignee_id": body.get("assignee_id"),
            "assignee_email": body.get("assignee_email"),
            "created_at": iso_z(now),
            "updated_at": iso_z(now),
            "comments": [],
        }
        self._comment(ticket, comment, now)
        self.tickets[ticket_id] = ticket
        self.created(ticket_id, now)
        location = {"Location": ticket["url"]}
        return Answer(201, {"ticket": self.public(ticket)}, location)

    def _comment(self, ticket: dict[str, Any], comment: dict[str, Any], now: float) -> None:
        attachments = []
        for token in comment.get("uploads") or []:
            upload = self.uploads.pop(token, None)
            if upload is not None:
                attachments.append(upload["attachment"])
        ticket["comments"].append(
            {
                "id": len(ticket["comments"]) + 1,
                "body": comment.get("body"),
                "public": comment.get("public", True),
                "attachments": attachments,
                "created_at": iso_z(now),
            }
        )

    def list_tickets(self, req: Request) -> Answer:
        wanted = req.query.get("external_id")
        found = [
            self.public(t)
            for t in self.tickets.values()
            if wanted is None or t["external_id"] == wanted
        ]
        return Answer(200, {"tickets": found, "count": len(found), "next_page": None})

    def show_ticket(self, req: Request, id: str) -> Answer:
        ticket = self.tickets.get(int(id))
        return Answer(200, {"ticket": self.public(ticket)}) if ticket else self.not_found()

    def update_ticket(self, req: Request, id: str) -> Answer:
        ticket = self.tickets.get(int(id))
        if ticket is None:
            return self.not_found()
        if ticket["status"] == "closed":
            return Answer(
                422,
                {
                    "error": "RecordInvalid",
                    "description": "Record validation errors",
                    "details": {
                        "status": [{"description": "Status: closed prevents ticket update"}]
                    },
                },
            )
        body = (req.json() or {}).get("ticket") or {}
        now = time.time()
        if "comment" in body:
            self._comment(ticket, body["comment"], now)
        for key in ("status", "subject", "custom_fields", "assignee_id", "external_id"):
            if key in body:
                ticket[key] = body[key]
        if "tags" in body:
            ticket["tags"] = sorted({str(t).lower() for t in body["tags"]})
        ticket["updated_at"] = iso_z(now)
        return Answer(200, {"ticket": self.public(ticket), "audit": {"ticket_id": ticket["id"]}})

    def upload(self, req: Request) -> Answer:
        filename = req.query.get("filename")
        if not filename:
            return Answer(400, {"error": "InvalidValue", "description": "filename is required"})
        token = uuid.uuid4().hex[:24]
        attachment = {
            "id": self.attachment_ids,
            "file_name": filename,
            "content_type": req.headers.get("Content-Type", "application/binary"),
            "size": len(req.body),
            "content_url": f"{req.base}/attachments/token/{token}/?name={filename}",
            "sha256": hashlib.sha256(req.body).hexdigest(),
        }
        self.attachment_ids += 1
        self.uploads[token] = {"attachment": attachment, "created": time.time()}
        upload = {
            "token": token,
            "expires_at": iso_z(time.time() + 3600),
            "attachment": attachment,
            "attachments": [attachment],
        }
        return Answer(201, {"upload": upload})

    def search(self, req: Request) -> Answer:
        now = time.time()
        terms = ZENDESK_TERM.findall(req.query.get("query", ""))
        if ("type", ":", "ticket") not in terms:
            return Answer(200, {"results": [], "count": 0, "next_page": None})
        found = [
            t
            for t in self.tickets.values()
            if self.searchable(t["id"], now) and all(self._matches(t, term) for term in terms)
        ]
        key = "updated_at" if req.query.get("sort_by") == "updated_at" else "created_at"
        found.sort(key=lambda t: (t[key], t["id"]), reverse=req.query.get("sort_order") != "asc")
        results = [{**self.public(t), "result_type": "ticket"} for t in found]
        return Answer(200, {"results": results, "count": len(results), "next_page": None})

    @staticmethod
    def _matches(ticket: dict[str, Any], term: tuple[str, str, str]) -> bool:
        name, op, raw = term
        value = raw.strip('"')
        if name == "type":
            return True
        if name == "status":
            rank = ZENDESK_STATUS_ORDER.index
            if value not in ZENDESK_STATUS_ORDER:
                return False
            have, want = rank(ticket["status"]), rank(value)
            return {
                ":": have == want,
                "<": have < want,
                ">": have > want,
                "<=": have <= want,
                ">=": have >= want,
            }[op]
        if name.startswith("custom_field_"):
            field_id = name.removeprefix("custom_field_")
            return any(
                str(f.get("id")) == field_id and str(f.get("value")) == value
                for f in ticket["custom_fields"]
            )
        if name in ("tags", "tag"):
            return value.lower() in ticket["tags"]
        if name == "external_id":
            return ticket["external_id"] == value
        return True  # other keywords are not modelled

    def collections(self) -> dict[str, dict[str, Any]]:
        return {"tickets": {str(k): v for k, v in self.tickets.items()}}
