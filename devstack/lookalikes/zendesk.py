"""Look-alike Zendesk Support API: tickets, comments, users, uploads, search.

Each behaviour a client may depend on, with the page that documents it:
- ``Idempotency-Key`` on ticket create: the same key and body replay the first
  answer (``x-idempotency-lookup: hit``), another body is a 400
  ``IdempotentRequestError``; keys live about two hours.
  https://developer.zendesk.com/api-reference/ticketing/introduction/#idempotency
- ``closed`` tickets are locked: an update is a 422; a follow-up ticket names the
  closed one in ``via_followup_source_id`` (only a closed ticket can be followed up).
  https://developer.zendesk.com/documentation/ticketing/managing-tickets/creating-and-updating-tickets
- Upload tokens expire (60 minutes): a comment with an expired or unknown token is a 422.
  https://support.zendesk.com/hc/en-us/articles/4408887057946
- Search lags behind writes ("a few minutes"); the ``external_id`` list does not.
  https://developer.zendesk.com/api-reference/ticketing/ticket-management/search/
- Users: ``POST /users/create_or_update`` matches on ``external_id`` or e-mail, so the
  same end user is one user however many sessions ask.
  https://developer.zendesk.com/api-reference/ticketing/users/users/#create-or-update-user
- ``assignee_email`` must name an agent; ``requester_id`` must name a user.
  https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/
- 429 with ``Retry-After``; ``X-Rate-Limit`` / ``X-Rate-Limit-Remaining`` on every answer.
  https://developer.zendesk.com/api-reference/introduction/rate-limits
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from typing import Any

from devstack.lookalikes.common import (
    AGENTS,
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
        self.route(
            "GET",
            rf"/api/v2/tickets/(?P<id>\d+)/comments{j}",
            self.list_comments,
            "/tickets/{id}/comments",
        )
        self.route(
            "POST", f"/api/v2/users/create_or_update{j}", self.create_or_update_user, "/users/cou"
        )
        self.route("GET", f"/api/v2/users/search{j}", self.search_users, "/users/search")

    def reset(self) -> None:
        super().reset()
        self.tickets: dict[int, dict[str, Any]] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[str, tuple[str, float, Answer]] = {}
        self.attachment_ids = 1
        self.users: dict[int, dict[str, Any]] = {
            user_id: {"id": user_id, "email": email, "role": "agent", "external_id": None}
            for email, user_id in AGENTS.items()
        }

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
        problem = self._check_people(body)
        follow = body.get("via_followup_source_id")
        if problem is None and follow is not None:
            source = self.tickets.get(int(follow)) if str(follow).isdigit() else None
            if source is None or source["status"] != "closed":
                problem = "via_followup_source_id: only a closed ticket can be followed up"
        if problem is None:
            problem = self._check_uploads(body.get("comment") or {})
        if problem is not None:
            return self._invalid(problem)
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
            "assignee_id": body.get("assignee_id") or AGENTS.get(body.get("assignee_email") or ""),
            "assignee_email": body.get("assignee_email"),
            "requester_id": body.get("requester_id"),
            "via_followup_source_id": body.get("via_followup_source_id"),
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
        problem = self._check_uploads(body.get("comment") or {})
        if problem is not None:
            return self._invalid(problem)
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
            "expires_at": iso_z(time.time() + self.hub.limits.upload_ttl_s),
            "attachment": attachment,
            "attachments": [attachment],
        }
        return Answer(201, {"upload": upload})

    @staticmethod
    def _invalid(problem: str) -> Answer:
        field_name = problem.split(":", 1)[0]
        return Answer(
            422,
            {
                "error": "RecordInvalid",
                "description": "Record validation errors",
                "details": {field_name: [{"description": problem}]},
            },
        )

    def _check_people(self, body: dict[str, Any]) -> str | None:
        requester = body.get("requester_id")
        if requester is not None and int(requester) not in self.users:
            return f"requester_id: no user {requester}"
        email = body.get("assignee_email")
        if email and email not in AGENTS:
            return f"assignee: {email} is not an agent"
        return None

    def _check_uploads(self, comment: dict[str, Any]) -> str | None:
        now = time.time()
        for token in comment.get("uploads") or []:
            upload = self.uploads.get(token)
            if upload is None or upload["created"] + self.hub.limits.upload_ttl_s < now:
                return f"uploads: token {token} is invalid or has expired"
        return None

    def create_or_update_user(self, req: Request) -> Answer:
        body = (req.json() or {}).get("user") or {}
        if not body.get("name") and not body.get("email"):
            return self._invalid("name: cannot be blank")
        ext, email = body.get("external_id"), body.get("email")
        for user in self.users.values():
            if (ext and user.get("external_id") == ext) or (email and user.get("email") == email):
                user.update({k: v for k, v in body.items() if v is not None})
                return Answer(200, {"user": user})
        user_id = 90_000 + len(self.users)
        self.users[user_id] = {"id": user_id, "role": "end-user", **body}
        return Answer(201, {"user": self.users[user_id]})

    def search_users(self, req: Request) -> Answer:
        terms = dict(
            term.split(":", 1) for term in req.query.get("query", "").split() if ":" in term
        )
        found = [
            u
            for u in self.users.values()
            if all(
                str(u.get(k)) == v
                for k, v in terms.items()
                if k in ("email", "role", "external_id")
            )
        ]
        return Answer(200, {"users": found, "count": len(found), "next_page": None})

    def list_comments(self, req: Request, id: str) -> Answer:
        ticket = self.tickets.get(int(id))
        if ticket is None:
            return self.not_found()
        return Answer(
            200,
            {"comments": ticket["comments"], "next_page": None, "count": len(ticket["comments"])},
        )

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
        return {
            "tickets": {str(k): v for k, v in self.tickets.items()},
            "users": {str(k): v for k, v in self.users.items()},
        }
