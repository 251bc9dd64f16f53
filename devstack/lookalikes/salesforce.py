"""Look-alike Salesforce REST API: OAuth token, Case, Contact, CaseComment, ContentVersion, SOQL.

Each behaviour a client may depend on, with the page that documents it:
- Assignment rules run on every Case create and update unless the request says
  ``Sforce-Auto-Assign: FALSE``; with no active rule the Default Case Owner still
  takes the case (so a sent ``OwnerId`` is overridden).
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_autoassign.htm
  https://help.salesforce.com/s/articleView?id=000395506&type=1
- Upsert by External ID: 201 created, 200 updated, 300 Multiple Choices (nothing
  written) when several records share the value; the same for a GET by that field.
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_upsert.htm
- A field the object does not have is a 400 ``INVALID_FIELD``; read-only ones are
  ``INVALID_FIELD_FOR_INSERT_UPDATE``.
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
- Over the 24 h allocation: 403 ``REQUEST_LIMIT_EXCEEDED`` (no 429, no Retry-After);
  ``Sforce-Limit-Info: api-usage=used/limit`` on every answer.
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm
- ContentVersion with ``FirstPublishLocationId`` publishes the file to the record;
  with ``ContentDocumentId`` it adds a version (both: an error).
  https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_contentversion.htm
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from devstack.lookalikes.common import (
    AGENTS,
    Answer,
    FakeCrm,
    Request,
    bearer,
)

SOQL = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>\w+)(?:\s+(?P<direction>ASC|DESC))?)?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
SOQL_CONDITION = re.compile(r"^(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|true|false|null)$", re.IGNORECASE)
CLOSED_CASE_STATUSES = frozenset({"Closed"})
DEFAULT_CASE_OWNER = "005000000000DEFAULT"  # Support Settings' Default Case Owner
# The org's fields (standard writable ones, and the custom fields an admin created).
CASE_FIELDS = frozenset(
    {
        "Subject",
        "Description",
        "Status",
        "Origin",
        "Priority",
        "Type",
        "Reason",
        "OwnerId",
        "ContactId",
        "AccountId",
        "ParentId",
        "SuppliedEmail",
        "SuppliedName",
        "SuppliedPhone",
        "CCAIP_Session_Id__c",
        "CCAIP_End_User_Id__c",
        "CCAIP_Leaf_Queue__c",
        "CCAIP_Session_Type__c",
    }
)
CONTACT_FIELDS = frozenset(
    {"FirstName", "LastName", "Email", "Phone", "MobilePhone", "AccountId", "CCAIP_End_User_Id__c"}
)
COMMENT_FIELDS = frozenset({"ParentId", "CommentBody", "IsPublished"})


def sf_time(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def sf_error(status: int, code: str, message: str) -> Answer:
    return Answer(status, [{"message": message, "errorCode": code}])


class FakeSalesforce(FakeCrm):
    name = "salesforce"
    exempt_routes = frozenset({"/services/oauth2/token"})  # login is not an API call

    def __init__(self, hub: Any) -> None:
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
        self.route(
            "PATCH",
            rf"{v}/sobjects/Contact/(?P<field>\w+__c)/(?P<value>[^/]+)",
            self.upsert_contact,
            "/sobjects/Contact/{field}/{value}",
        )
        self.route(
            "GET",
            rf"{v}/sobjects/Contact/(?P<field>\w+__c)/(?P<value>[^/]+)",
            self.contact_by_field,
            "/sobjects/Contact/{field}/{value}",
        )
        self.route("POST", f"{v}/sobjects/CaseComment/?", self.create_comment, "/CaseComment")

    def reset(self) -> None:
        super().reset()
        self.tokens: set[str] = set()
        self.cases: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, dict[str, Any]] = {}
        self.links: list[dict[str, str]] = []
        self.contacts: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {
            f"005{number:012d}AAA": {
                "attributes": {"type": "User"},
                "Id": f"005{number:012d}AAA",
                "Email": email,
                "IsActive": True,
            }
            for email, number in AGENTS.items()
        }

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

    def _bad_fields(
        self, fields: Any, forbidden: set[str], known: frozenset[str] = CASE_FIELDS, kind="Case"
    ) -> Answer | None:
        if not isinstance(fields, dict):
            return sf_error(400, "JSON_PARSER_ERROR", "Body must be a JSON object")
        for name in fields:
            if name in forbidden or name in ("IsClosed", "CaseNumber", "CreatedDate", "Id"):
                return sf_error(400, "INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to set {name}")
            if name not in known:
                return sf_error(
                    400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {kind}"
                )
        return None

    @staticmethod
    def _assignment(req: Request, fields: dict[str, Any]) -> dict[str, Any]:
        """Assignment rules run unless the request says ``Sforce-Auto-Assign: FALSE``."""
        header = (req.headers.get("Sforce-Auto-Assign") or "TRUE").strip().upper()
        if header == "FALSE":
            return fields
        return {**fields, "OwnerId": DEFAULT_CASE_OWNER}

    def create_case(self, req: Request) -> Answer:
        fields = req.json()
        error = self._bad_fields(fields, {"Id"})
        if error:
            return error
        case = self._new_case(self._assignment(req, fields), req)
        return Answer(201, {"id": case["Id"], "success": True, "errors": []})

    def upsert_case(self, req: Request, field: str, value: str) -> Answer:
        fields = req.json()
        error = self._bad_fields(fields, {"Id", field})
        if error:
            return error
        matches = [c for c in self.cases.values() if c.get(field) == value]
        if len(matches) > 1:
            return Answer(300, [f"/services/data/v60.0/sobjects/Case/{c['Id']}" for c in matches])
        fields = self._assignment(req, fields)
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
            return Answer(300, [f"/services/data/v60.0/sobjects/Case/{c['Id']}" for c in matches])
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
        self._apply(case, self._assignment(req, fields), time.time())
        return Answer(204)

    def upsert_contact(self, req: Request, field: str, value: str) -> Answer:
        fields = req.json()
        error = self._bad_fields(fields, {field}, CONTACT_FIELDS, "Contact")
        if error:
            return error
        if field not in CONTACT_FIELDS:
            return sf_error(400, "INVALID_FIELD", f"No such column '{field}' on Contact")
        matches = [c for c in self.contacts.values() if c.get(field) == value]
        if len(matches) > 1:
            return Answer(
                300, [f"/services/data/v60.0/sobjects/Contact/{c['Id']}" for c in matches]
            )
        if matches:
            matches[0].update(fields)
            return Answer(
                200, {"id": matches[0]["Id"], "success": True, "errors": [], "created": False}
            )
        if not fields.get("LastName"):
            return sf_error(
                400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]"
            )
        contact_id = self.sf_id("003")
        self.contacts[contact_id] = {
            "attributes": {"type": "Contact"},
            "Id": contact_id,
            **fields,
            field: value,
        }
        return Answer(201, {"id": contact_id, "success": True, "errors": [], "created": True})

    def contact_by_field(self, req: Request, field: str, value: str) -> Answer:
        matches = [c for c in self.contacts.values() if c.get(field) == value]
        if not matches:
            return self.not_found()
        if len(matches) > 1:
            return Answer(
                300, [f"/services/data/v60.0/sobjects/Contact/{c['Id']}" for c in matches]
            )
        return Answer(200, self._select(matches[0], req.query.get("fields")))

    def create_comment(self, req: Request) -> Answer:
        fields = req.json()
        error = self._bad_fields(fields, set(), COMMENT_FIELDS, "CaseComment")
        if error:
            return error
        if fields.get("ParentId") not in self.cases:
            return sf_error(400, "INVALID_CROSS_REFERENCE_KEY", "invalid ParentId")
        if len((fields.get("CommentBody") or "").encode()) > 4000:
            return sf_error(400, "STRING_TOO_LONG", "CommentBody: data value too large")
        comment_id = self.sf_id("00a")
        self.comments[comment_id] = {
            "attributes": {"type": "CaseComment"},
            "Id": comment_id,
            "CreatedDate": sf_time(time.time()),
            **fields,
        }
        return Answer(201, {"id": comment_id, "success": True, "errors": []})

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
            "Description": body.get("Description"),
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
        table = {
            "case": self.cases,
            "contentversion": self.versions,
            "contact": self.contacts,
            "user": self.users,
            "casecomment": self.comments,
        }.get(match["object"].lower())
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
        return {
            "cases": self.cases,
            "content_versions": self.versions,
            "contacts": self.contacts,
            "case_comments": self.comments,
        }


def _soql_value(raw: str) -> Any:
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    return re.sub(r"\\(.)", r"\1", raw[1:-1])
