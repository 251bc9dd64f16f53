"""Look-alike CRM servers, so that every client runs its real HTTP path in tests and demos.

One process serves the four CRMs under path prefixes of one port
(``http://host:port/zendesk``, ``/salesforce``, ``/freshdesk``, ``/kustomer``),
each with its own records, request counters and rate-limit windows, plus an
optional SMTP sink for the e-mail delivery. They answer like the CRM where the
clients depend on it: endpoints, auth schemes, status codes, JSON shapes and
ids, throttling (429 + ``Retry-After``; Kustomer's ``x-ratelimit-reset``;
Salesforce's 403 ``REQUEST_LIMIT_EXCEEDED``), Zendesk's ``Idempotency-Key``,
and search lag (a record shows up in search endpoints only ``search_lag_ms``
after it was created; direct reads and list endpoints see it at once).
Credentials are checked for their form, not their value, and never stored.

Admin endpoints (not counted, not limited): ``GET /_admin/records[?crm=]``,
``GET /_admin/stats``, ``GET /_admin/emails``, ``POST /_admin/reset``,
``POST /_admin/config`` (``per_minute``, ``per_day``, ``search_lag_ms``),
``PATCH /_admin/records/{crm}/{collection}/{id}`` (merge fields, e.g. to age a
record), ``POST /_admin/fail`` (``{"crm", "status", "count"}``: the next API
calls answer that status, for outages) and ``POST /_admin/salesforce/expire-tokens``.

Run: ``python -m sessionctl.fake_crms --port 8765 [--per-minute N] [--per-day N]
[--search-lag-ms N] [--smtp-port P]``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import re
import socketserver
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

MINUTE, DAY = 60.0, 86_400.0
IDEMPOTENCY_TTL = 2 * 3600.0  # Zendesk keeps keys about two hours


@dataclass
class Limits:
    per_minute: int = 0  # 0: no limit
    per_day: int = 0
    search_lag_ms: int = 0


@dataclass
class Answer:
    status: int
    body: Any = None  # JSON-able, or bytes as they are
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str  # after the CRM prefix
    query: dict[str, str]
    headers: Message
    body: bytes
    base: str  # http://host:port/{crm}
    root: str  # http://host:port

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def form(self) -> tuple[dict[str, str], list[tuple[str, str, str, bytes]], list[str]]:
        """Multipart fields, files (name, filename, type, bytes) and the order of the parts."""
        head = f"Content-Type: {self.headers.get('Content-Type', '')}\r\n\r\n".encode()
        message = BytesParser(policy=policy.HTTP).parsebytes(head + self.body)
        fields: dict[str, str] = {}
        files: list[tuple[str, str, str, bytes]] = []
        order: list[str] = []
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition") or ""
            payload = part.get_payload(decode=True) or b""
            order.append(name)
            if part.get_filename() is None:
                fields[name] = payload.decode()
            else:
                files.append((name, part.get_filename(), part.get_content_type(), payload))
        return fields, files, order

    def is_multipart(self) -> bool:
        return self.headers.get("Content-Type", "").startswith("multipart/form-data")


def iso_z(at: float, millis: bool = False) -> str:
    spec = "milliseconds" if millis else "seconds"
    return datetime.fromtimestamp(at, UTC).isoformat(timespec=spec).replace("+00:00", "Z")


def basic_credentials(req: Request) -> tuple[str, str] | None:
    value = req.headers.get("Authorization", "")
    if not value.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password


def bearer(req: Request) -> str | None:
    value = req.headers.get("Authorization", "")
    return value[7:] if value.startswith("Bearer ") and len(value) > 7 else None


Handler = Callable[..., Answer]


class FakeCrm:
    """What the four look-alikes share: routing, counting, windows, auth check, search lag."""

    name = ""
    exempt_routes: frozenset[str] = frozenset()

    def __init__(self, hub: FakeCrms) -> None:
        self.hub = hub
        self.routes: list[tuple[str, re.Pattern[str], Handler, str]] = []
        self.reset()

    def reset(self) -> None:
        self.minute: deque[float] = deque()
        self.day: deque[float] = deque()
        self.requests = 0
        self.throttled = 0
        self.by_route: Counter[str] = Counter()
        self.indexed_at: dict[str, float] = {}
        self.next_id = 1
        self.faults: deque[int] = deque()  # statuses the next API calls answer (outages)

    def route(self, method: str, pattern: str, handler: Handler, label: str) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler, label))

    def serve(self, req: Request, now: float) -> Answer:
        self.requests += 1
        for method, pattern, handler, label in self.routes:
            match = pattern.match(req.path)
            if match and method == req.method:
                self.by_route[f"{method} {label}"] += 1
                if self.faults:
                    status = self.faults.popleft()
                    return Answer(status, {"error": "injected", "status": status})
                if label not in self.exempt_routes:
                    wait = self.admit(now)
                    if wait is not None:
                        self.throttled += 1
                        return self.throttle_answer(wait, now)
                    if not self.authorized(req):
                        return self.unauthorized()
                answer = handler(req, **{k: unquote(v) for k, v in match.groupdict().items()})
                answer.headers.update(self.usage_headers(now))
                return answer
        self.by_route[f"{req.method} (unknown)"] += 1
        return self.not_found()

    def admit(self, now: float) -> float | None:
        """None when the call fits the windows (and is counted), else the seconds to wait."""
        for window, span in ((self.minute, MINUTE), (self.day, DAY)):
            while window and window[0] <= now - span:
                window.popleft()
        limits = self.hub.limits
        if limits.per_minute and len(self.minute) >= limits.per_minute:
            return self.minute[0] + MINUTE - now
        if limits.per_day and len(self.day) >= limits.per_day:
            return self.day[0] + DAY - now
        self.minute.append(now)
        self.day.append(now)
        return None

    def throttle_answer(self, wait: float, now: float) -> Answer:
        return Answer(
            429,
            {"error": "TooManyRequests", "description": "Rate limit exceeded"},
            {"Retry-After": str(max(1, math.ceil(wait)))},
        )

    def usage_headers(self, now: float) -> dict[str, str]:
        return {}

    def authorized(self, req: Request) -> bool:
        raise NotImplementedError

    def unauthorized(self) -> Answer:
        return Answer(401, {"error": "Couldn't authenticate you"})

    def not_found(self) -> Answer:
        return Answer(404, {"error": "RecordNotFound", "description": "Not found"})

    def new_id(self) -> int:
        value, self.next_id = self.next_id, self.next_id + 1
        return value

    def created(self, record_id: Any, now: float) -> None:
        self.indexed_at[str(record_id)] = now + self.hub.limits.search_lag_ms / 1000

    def searchable(self, record_id: Any, now: float) -> bool:
        return self.indexed_at.get(str(record_id), 0.0) <= now

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "throttled": self.throttled,
            "by_route": dict(self.by_route),
        }

    def collections(self) -> dict[str, dict[str, Any]]:
        raise NotImplementedError


# -- Zendesk -------------------------------------------------------------------------------

ZENDESK_STATUS_ORDER = ["new", "open", "pending", "hold", "solved", "closed"]
ZENDESK_TERM = re.compile(r'([\w.]+)(:|<=|>=|<|>)("[^"]*"|\S+)')


class FakeZendesk(FakeCrm):
    name = "zendesk"

    def __init__(self, hub: FakeCrms) -> None:
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


# -- Salesforce ----------------------------------------------------------------------------

SOQL = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>\w+)(?:\s+(?P<direction>ASC|DESC))?)?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
SOQL_CONDITION = re.compile(r"^(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|true|false|null)$", re.IGNORECASE)
CLOSED_CASE_STATUSES = frozenset({"Closed"})


def sf_time(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def sf_error(status: int, code: str, message: str) -> Answer:
    return Answer(status, [{"message": message, "errorCode": code}])


class FakeSalesforce(FakeCrm):
    name = "salesforce"
    exempt_routes = frozenset({"/services/oauth2/token"})  # login is not an API call

    def __init__(self, hub: FakeCrms) -> None:
        super().__init__(hub)
        v = r"/services/data/v\d+\.\d+"
        self.route("POST", "/services/oauth2/token", self.token, "/services/oauth2/token")
        self.route("POST", f"{v}/sobjects/Case/?", self.create_case, "/sobjects/Case")
        self.route(
            "PATCH",
            rf"{v}/sobjects/Case/(?P<field>\w+__c)/(?P<value>[^/]+)",
            self.upsert_case,
            "/sobjects/Case/{field}/{value}",
        )
        self.route(
            "GET",
            rf"{v}/sobjects/Case/(?P<field>\w+__c)/(?P<value>[^/]+)",
            self.case_by_field,
            "/sobjects/Case/{field}/{value}",
        )
        self.route("GET", rf"{v}/sobjects/Case/(?P<id>\w+)", self.get_case, "/sobjects/Case/{id}")
        self.route(
            "PATCH", rf"{v}/sobjects/Case/(?P<id>\w+)", self.update_case, "/sobjects/Case/{id}"
        )
        self.route("POST", f"{v}/sobjects/ContentVersion/?", self.create_version, "/ContentVersion")
        self.route(
            "GET",
            rf"{v}/sobjects/ContentVersion/(?P<id>\w+)",
            self.get_version,
            "/ContentVersion/{id}",
        )
        self.route("GET", f"{v}/query/?", self.query, "/query")

    def reset(self) -> None:
        super().reset()
        self.tokens: set[str] = set()
        self.cases: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, dict[str, Any]] = {}
        self.links: list[dict[str, str]] = []

    def sf_id(self, prefix: str) -> str:
        return f"{prefix}{self.new_id():012d}AAA"

    def authorized(self, req: Request) -> bool:
        return bearer(req) in self.tokens

    def unauthorized(self) -> Answer:
        return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")

    def not_found(self) -> Answer:
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")

    def throttle_answer(self, wait: float, now: float) -> Answer:
        return sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")

    def usage_headers(self, now: float) -> dict[str, str]:
        limit = self.hub.limits.per_day or 15_000
        return {"Sforce-Limit-Info": f"api-usage={len(self.day)}/{limit}"}

    def token(self, req: Request) -> Answer:
        form = {k: v[-1] for k, v in parse_qs(req.body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return Answer(400, {"error": "unsupported_grant_type", "error_description": "grant"})
        if not (form.get("client_id") and form.get("client_secret")):
            return Answer(
                400, {"error": "invalid_client", "error_description": "invalid client credentials"}
            )
        access = f"00DFAKE!{uuid.uuid4().hex}"
        self.tokens.add(access)
        return Answer(
            200,
            {
                "access_token": access,
                "instance_url": req.base,
                "token_type": "Bearer",
                "issued_at": str(int(time.time() * 1000)),
                "id": f"{req.base}/id/00DFAKE/005FAKE",
            },
        )

    def _new_case(self, fields: dict[str, Any], req: Request) -> dict[str, Any]:
        now = time.time()
        case_id = self.sf_id("500")
        case = {
            "attributes": {
                "type": "Case",
                "url": f"{req.path.split('/sobjects')[0]}/Case/{case_id}",
            },
            "Id": case_id,
            "CaseNumber": f"{1000 + len(self.cases) + 1:08d}",
            "Status": "New",
            "IsClosed": False,
            "CreatedDate": sf_time(now),
            "LastModifiedDate": sf_time(now),
            "ClosedDate": None,
        }
        self._apply(case, fields, now)
        self.cases[case_id] = case
        self.created(case_id, now)
        return case

    def _apply(self, case: dict[str, Any], fields: dict[str, Any], now: float) -> None:
        case.update(fields)
        if "Status" in fields:
            closed = fields["Status"] in CLOSED_CASE_STATUSES
            if closed and not case["IsClosed"]:
                case["ClosedDate"] = sf_time(now)
            case["IsClosed"] = closed
            if not closed:
                case["ClosedDate"] = None
        case["LastModifiedDate"] = sf_time(now)

    def _bad_fields(self, fields: Any, forbidden: set[str]) -> Answer | None:
        if not isinstance(fields, dict):
            return sf_error(400, "JSON_PARSER_ERROR", "Body must be a JSON object")
        for name in fields:
            if name in forbidden or name in ("IsClosed", "CaseNumber", "CreatedDate"):
                return sf_error(400, "INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to set {name}")
        return None

    def create_case(self, req: Request) -> Answer:
        fields = req.json()
        error = self._bad_fields(fields, {"Id"})
        if error:
            return error
        case = self._new_case(fields, req)
        return Answer(201, {"id": case["Id"], "success": True, "errors": []})

    def upsert_case(self, req: Request, field: str, value: str) -> Answer:
        fields = req.json()
        error = self._bad_fields(fields, {"Id", field})
        if error:
            return error
        matches = [c for c in self.cases.values() if c.get(field) == value]
        if len(matches) > 1:
            return Answer(300, [f"/services/data/v60.0/sobjects/Case/{c['Id']}" for c in matches])
        if matches:
            self._apply(matches[0], fields, time.time())
            return Answer(
                200, {"id": matches[0]["Id"], "success": True, "errors": [], "created": False}
            )
        case = self._new_case({**fields, field: value}, req)
        return Answer(201, {"id": case["Id"], "success": True, "errors": [], "created": True})

    def case_by_field(self, req: Request, field: str, value: str) -> Answer:
        matches = [c for c in self.cases.values() if c.get(field) == value]
        if not matches:
            return self.not_found()
        if len(matches) > 1:
            return Answer(300, [c["Id"] for c in matches])
        return Answer(200, self._select(matches[0], req.query.get("fields")))

    def get_case(self, req: Request, id: str) -> Answer:
        case = self.cases.get(id)
        return (
            Answer(200, self._select(case, req.query.get("fields"))) if case else self.not_found()
        )

    def update_case(self, req: Request, id: str) -> Answer:
        case = self.cases.get(id)
        if case is None:
            return self.not_found()
        fields = req.json()
        error = self._bad_fields(fields, {"Id"})
        if error:
            return error
        self._apply(case, fields, time.time())
        return Answer(204)

    @staticmethod
    def _select(record: dict[str, Any], fields: str | None) -> dict[str, Any]:
        if not fields:
            return record
        wanted = {name.strip().lower() for name in fields.split(",")} | {"attributes", "id"}
        return {k: v for k, v in record.items() if k.lower() in wanted}

    def create_version(self, req: Request) -> Answer:
        body = req.json() or {}
        if body.get("ContentDocumentId") and body.get("FirstPublishLocationId"):
            return sf_error(
                400, "FIELD_INTEGRITY_EXCEPTION", "ContentDocumentId and FirstPublishLocationId"
            )
        try:
            data = base64.b64decode(body.get("VersionData") or "", validate=True)
        except ValueError:
            return sf_error(400, "INVALID_FIELD", "VersionData is not base64")
        if not body.get("PathOnClient"):
            return sf_error(
                400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [PathOnClient]"
            )
        document = body.get("ContentDocumentId")
        if document and not any(v["ContentDocumentId"] == document for v in self.versions.values()):
            return sf_error(400, "INVALID_CROSS_REFERENCE_KEY", "invalid ContentDocumentId")
        location = body.get("FirstPublishLocationId")
        if location and location not in self.cases:
            return sf_error(400, "INVALID_CROSS_REFERENCE_KEY", "invalid FirstPublishLocationId")
        document = document or self.sf_id("069")
        number = 1 + sum(1 for v in self.versions.values() if v["ContentDocumentId"] == document)
        version_id = self.sf_id("068")
        self.versions[version_id] = {
            "attributes": {"type": "ContentVersion"},
            "Id": version_id,
            "ContentDocumentId": document,
            "Title": body.get("Title"),
            "PathOnClient": body["PathOnClient"],
            "VersionNumber": str(number),
            "ReasonForChange": body.get("ReasonForChange"),
            "ContentSize": len(data),
            "Checksum": hashlib.md5(data).hexdigest(),
            "FirstPublishLocationId": location,
            "CreatedDate": sf_time(time.time()),
        }
        if location:
            self.links.append({"ContentDocumentId": document, "LinkedEntityId": location})
        return Answer(201, {"id": version_id, "success": True, "errors": []})

    def get_version(self, req: Request, id: str) -> Answer:
        version = self.versions.get(id)
        if version is None:
            return self.not_found()
        return Answer(200, self._select(version, req.query.get("fields")))

    def query(self, req: Request) -> Answer:
        match = SOQL.match(req.query.get("q", ""))
        if match is None:
            return sf_error(400, "MALFORMED_QUERY", "unexpected token")
        table = {"case": self.cases, "contentversion": self.versions}.get(match["object"].lower())
        if table is None:
            return sf_error(
                400, "INVALID_TYPE", f"sObject type '{match['object']}' is not supported."
            )
        conditions = []
        for part in re.split(r"\s+AND\s+", match["where"] or "", flags=re.IGNORECASE):
            if not part:
                continue
            condition = SOQL_CONDITION.match(part.strip())
            if condition is None:
                return sf_error(400, "MALFORMED_QUERY", f"unexpected condition: {part}")
            conditions.append((condition[1], _soql_value(condition[2])))
        rows = [r for r in table.values() if all(r.get(f) == v for f, v in conditions)]
        if match["order"]:
            rows.sort(
                key=lambda r: (r.get(match["order"]) is None, r.get(match["order"]) or ""),
                reverse=(match["direction"] or "").upper() == "DESC",
            )
        if match["limit"]:
            rows = rows[: int(match["limit"])]
        fields = match["fields"]
        records = [{"attributes": r["attributes"], **self._select(r, fields)} for r in rows]
        return Answer(200, {"totalSize": len(records), "done": True, "records": records})

    def collections(self) -> dict[str, dict[str, Any]]:
        return {"cases": self.cases, "content_versions": self.versions}


def _soql_value(raw: str) -> Any:
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    return re.sub(r"\\(.)", r"\1", raw[1:-1])


# -- Freshdesk -----------------------------------------------------------------------------

FRESHDESK_CONDITION = re.compile(r"^(\w+):(?:'([^']*)'|(\S+))$")


class FakeFreshdesk(FakeCrm):
    name = "freshdesk"

    def __init__(self, hub: FakeCrms) -> None:
        super().__init__(hub)
        self.route("POST", "/api/v2/tickets", self.create_ticket, "/api/v2/tickets")
        self.route("GET", r"/api/v2/tickets/(?P<id>\d+)", self.show_ticket, "/tickets/{id}")
        self.route("PUT", r"/api/v2/tickets/(?P<id>\d+)", self.update_ticket, "/tickets/{id}")
        self.route(
            "POST", r"/api/v2/tickets/(?P<id>\d+)/notes", self.add_note, "/tickets/{id}/notes"
        )
        self.route("GET", "/api/v2/search/tickets", self.search, "/api/v2/search/tickets")

    def reset(self) -> None:
        super().reset()
        self.tickets: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, dict[str, Any]] = {}
        self.contacts: dict[str, int] = {}
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
        key = str(body.get("unique_external_id") or body.get("email") or body.get("phone"))
        return self.contacts.setdefault(key, 1000 + len(self.contacts))

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
        }


# -- Kustomer ------------------------------------------------------------------------------


class FakeKustomer(FakeCrm):
    name = "kustomer"

    def __init__(self, hub: FakeCrms) -> None:
        super().__init__(hub)
        self.route(
            "GET",
            "/v1/customers/externalId=(?P<ext>.+)",
            self.customer_by_ext,
            "/v1/customers/externalId={x}",
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

    def customer_by_ext(self, req: Request, ext: str) -> Answer:
        for customer in self.customers.values():
            if customer["attributes"]["externalId"] == ext:
                return Answer(200, {"data": customer})
        return self.not_found()

    def create_customer(self, req: Request) -> Answer:
        body = req.json() or {}
        ext = body.get("externalId")
        if ext and any(c["attributes"]["externalId"] == ext for c in self.customers.values()):
            return self.error(409, "duplicate", "externalId already exists")
        customer_id = self.oid()
        now = iso_z(time.time(), millis=True)
        self.customers[customer_id] = {
            "type": "customer",
            "id": customer_id,
            "attributes": {"name": body.get("name"), "externalId": ext, "createdAt": now},
        }
        return Answer(201, {"data": self.customers[customer_id]})

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


# -- the hub: one HTTP server for the four, admin endpoints, SMTP sink ---------------------


class FakeCrms:
    """All four look-alikes and their shared settings; thread-safe behind one lock."""

    def __init__(self, per_minute: int = 0, per_day: int = 0, search_lag_ms: int = 0) -> None:
        self.limits = Limits(per_minute, per_day, search_lag_ms)
        self.lock = threading.RLock()
        self.crms: dict[str, FakeCrm] = {
            crm.name: crm
            for crm in (
                FakeZendesk(self),
                FakeSalesforce(self),
                FakeFreshdesk(self),
                FakeKustomer(self),
            )
        }
        self.emails: list[dict[str, Any]] = []

    def reset(self) -> None:
        with self.lock:
            for crm in self.crms.values():
                crm.reset()
            self.emails.clear()

    def dispatch(
        self, method: str, target: str, headers: Message, body: bytes, host: str
    ) -> Answer:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        root = f"http://{host}"
        with self.lock:
            if parts.path.startswith("/_admin"):
                return self.admin(method, parts.path, query, body)
            prefix, _, rest = parts.path.lstrip("/").partition("/")
            if parts.path.startswith("/_storage/kustomer/"):
                req = Request(method, parts.path, query, headers, body, root, root)
                return self.crms["kustomer"].storage_upload(req, parts.path.rsplit("/", 1)[-1])
            crm = self.crms.get(prefix)
            if crm is None:
                return Answer(404, {"error": f"no CRM at /{prefix}"})
            req = Request(method, "/" + rest, query, headers, body, f"{root}/{prefix}", root)
            return crm.serve(req, time.time())

    def admin(self, method: str, path: str, query: dict[str, str], body: bytes) -> Answer:
        if method == "GET" and path == "/_admin/records":
            wanted = query.get("crm")
            return Answer(
                200,
                {
                    name: crm.collections()
                    for name, crm in self.crms.items()
                    if wanted in (None, name)
                },
            )
        if method == "GET" and path == "/_admin/stats":
            stats: dict[str, Any] = {name: crm.stats() for name, crm in self.crms.items()}
            stats["limits"] = vars(self.limits)
            stats["emails"] = len(self.emails)
            return Answer(200, stats)
        if method == "GET" and path == "/_admin/emails":
            return Answer(200, {"emails": self.emails})
        if method == "POST" and path == "/_admin/reset":
            self.reset()
            return Answer(200, {"reset": True})
        if method == "POST" and path == "/_admin/config":
            changes = json.loads(body or b"{}")
            for key in ("per_minute", "per_day", "search_lag_ms"):
                if key in changes:
                    setattr(self.limits, key, int(changes[key]))
            return Answer(200, vars(self.limits))
        if method == "POST" and path == "/_admin/fail":
            fault = json.loads(body or b"{}")
            crm = self.crms.get(fault.get("crm", ""))
            if crm is None:
                return Answer(404, {"error": "no such CRM"})
            crm.faults.extend([int(fault.get("status", 503))] * int(fault.get("count", 1)))
            return Answer(200, {"pending": list(crm.faults)})
        if method == "POST" and path == "/_admin/salesforce/expire-tokens":
            self.crms["salesforce"].tokens.clear()  # type: ignore[attr-defined]
            return Answer(200, {"expired": True})
        match = re.fullmatch(r"/_admin/records/(\w+)/(\w+)/([^/]+)", path)
        if method == "PATCH" and match:
            crm = self.crms.get(match[1])
            collection = crm.collections().get(match[2]) if crm else None
            record = collection.get(match[3]) if collection is not None else None
            if record is None:
                return Answer(404, {"error": "no such record"})
            changes = json.loads(body or b"{}")
            nested = changes.pop("attributes", None)  # Kustomer keeps its fields there
            record.update(changes)
            if isinstance(nested, dict):
                record.setdefault("attributes", {}).update(nested)
            return Answer(200, record)
        return Answer(404, {"error": "unknown admin endpoint"})


class FakeCrmServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], hub: FakeCrms) -> None:
        super().__init__(address, FakeCrmHandler)
        self.hub = hub


class FakeCrmHandler(BaseHTTPRequestHandler):
    server: FakeCrmServer
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        answer = self.server.hub.dispatch(self.command, self.path, self.headers, body, host)
        if isinstance(answer.body, bytes):
            payload, content_type = answer.body, "application/xml"
        elif answer.body is None:
            payload, content_type = b"", None
        else:
            payload, content_type = json.dumps(answer.body).encode(), "application/json"
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if content_type and payload:
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read /_admin/stats instead (and headers may hold credentials)."""


class SmtpSinkHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: EHLO/HELO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, QUIT."""

    server: SmtpSink

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 fake-crm ESMTP ready")
        sender, recipients = None, []
        while True:
            raw = self.rfile.readline(65_536)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250-fake-crm")
                self.reply("250-AUTH PLAIN LOGIN")
                self.reply("250 8BITMIME")
            elif verb == "HELO":
                self.reply("250 fake-crm")
            elif verb == "AUTH":
                self._auth(line)
            elif verb == "MAIL":
                sender, recipients = line.partition(":")[2].strip().strip("<>"), []
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(line.partition(":")[2].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                self.server.hub_store(sender, recipients, self._data())
                self.reply("250 OK queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")

    def _auth(self, line: str) -> None:
        # Any credentials pass; they are read and dropped, never stored or logged.
        words = line.split()
        mechanism = words[1].upper() if len(words) > 1 else ""
        if mechanism == "PLAIN":
            if len(words) < 3:
                self.reply("334 ")
                self.rfile.readline()
        elif mechanism == "LOGIN":
            if len(words) < 3:
                self.reply("334 VXNlcm5hbWU6")
                self.rfile.readline()
            self.reply("334 UGFzc3dvcmQ6")
            self.rfile.readline()
        else:
            self.reply("504 Unrecognized authentication type")
            return
        self.reply("235 Authentication successful")

    def _data(self) -> bytes:
        lines = []
        while True:
            raw = self.rfile.readline(1 << 20)
            if not raw or raw in (b".\r\n", b".\n"):
                break
            lines.append(raw[1:] if raw.startswith(b"..") else raw)
        return b"".join(lines)


class SmtpSink(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], hub: FakeCrms) -> None:
        super().__init__(address, SmtpSinkHandler)
        self.hub = hub

    def hub_store(self, sender: str | None, recipients: list[str], raw: bytes) -> None:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        attachments = [
            {
                "filename": part.get_filename(),
                "content_type": part.get_content_type(),
                "size": len(part.get_payload(decode=True) or b""),
                "content": (part.get_payload(decode=True) or b"").decode("utf-8", "replace"),
            }
            for part in message.iter_attachments()
        ]
        with self.hub.lock:
            self.hub.emails.append(
                {
                    "from": sender,
                    "to": recipients,
                    "subject": str(message["Subject"]),
                    "message_id": str(message["Message-ID"]),
                    "attachments": attachments,
                    "received_at": iso_z(time.time()),
                }
            )


@dataclass
class Running:
    """Started servers: their addresses, the shared state, and how to stop them."""

    hub: FakeCrms
    http: FakeCrmServer
    smtp: SmtpSink | None
    threads: list[threading.Thread]

    @property
    def root(self) -> str:
        host, port = self.http.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, crm: str) -> str:
        return f"{self.root}/{crm}"

    @property
    def smtp_port(self) -> int | None:
        return self.smtp.server_address[1] if self.smtp else None

    def stop(self) -> None:
        for server in (self.http, self.smtp):
            if server is not None:
                server.shutdown()
                server.server_close()
        for thread in self.threads:
            thread.join(timeout=5)


def start(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    per_minute: int = 0,
    per_day: int = 0,
    search_lag_ms: int = 0,
    smtp_port: int | None = None,
) -> Running:
    """Serve the fakes from background threads (port 0: any free port)."""
    hub = FakeCrms(per_minute, per_day, search_lag_ms)
    http = FakeCrmServer((host, port), hub)
    smtp = SmtpSink((host, smtp_port), hub) if smtp_port is not None else None
    threads = []
    for server in (http, smtp):
        if server is not None:
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            threads.append(thread)
    return Running(hub, http, smtp, threads)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Look-alike Zendesk/Salesforce/Freshdesk/Kustomer")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--per-minute", type=int, default=0, help="requests per minute, per CRM")
    parser.add_argument("--per-day", type=int, default=0, help="requests per 24 h, per CRM")
    parser.add_argument("--search-lag-ms", type=int, default=0, help="delay before search sees")
    parser.add_argument("--smtp-port", type=int, default=None, help="also run an SMTP sink")
    args = parser.parse_args(argv)
    running = start(
        args.host,
        args.port,
        per_minute=args.per_minute,
        per_day=args.per_day,
        search_lag_ms=args.search_lag_ms,
        smtp_port=args.smtp_port,
    )
    names = ", ".join(running.url(name) for name in running.hub.crms)
    smtp = f"; SMTP on {args.host}:{running.smtp_port}" if running.smtp else ""
    print(f"fake CRMs: {names}{smtp}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


if __name__ == "__main__":
    main()
