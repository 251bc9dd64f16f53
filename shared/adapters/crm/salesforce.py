"""Salesforce Cases (REST API).

- Auth: OAuth 2.0 client credentials at ``{base_url}/services/oauth2/token``;
  the answer names the instance to call. An expired token (401) is renewed once.
- Every case write carries ``Sforce-Auto-Assign: FALSE`` (configurable): without it
  the REST API runs the assignment rules (the Default Case Owner wins even with no
  active rule) and overrides our owner or reassigns agents' cases.
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_autoassign.htm
- Create: upsert ``PATCH /sobjects/Case/{ExternalIdField}/{key}``, Salesforce's
  own idempotency tool: a replay updates the same case instead of adding one; 300
  when several cases share the key (the oldest is used, the clash logged).
  ``Status`` is never sent on create, so a replay cannot undo an agent's change.
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_upsert.htm
- Requester: a Contact upserted by its External ID field (the end user id), so two
  first sessions of one caller make one contact; ``ContactId`` on the case.
- Owner: the platform agent's Salesforce user, found by e-mail (SOQL on User, cached).
- Case has no tags: the session type goes to a custom field.
- The file: a ``ContentVersion`` published to the case (``FirstPublishLocationId``);
  a rewrite adds a version to the same ``ContentDocument``. ``Description`` carries
  the version's marker, by which a retry finds it.
- Throttling: 403 ``REQUEST_LIMIT_EXCEEDED`` (no Retry-After), not 429; every answer
  says ``Sforce-Limit-Info: api-usage=used/limit`` (rolling 24 h).
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm
"""

from __future__ import annotations

import base64
import logging
import re
from typing import Any
from urllib.parse import quote

import httpx

from shared.adapters.crm.base import (
    FetchedOnce,
    HttpCrm,
    RecordRef,
    Usage,
    check,
    created_time,
    parse_time,
    send,
)
from shared.crm.errors import CrmRejected, CrmThrottled
from shared.crm.rules import ExistingRecord, NewRecord
from shared.crm.settings import SalesforceSettings

log = logging.getLogger(__name__)

API_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")
DAY = 86_400.0


class SalesforceClient(HttpCrm):
    name = "salesforce"

    def __init__(
        self,
        base_url: str,
        settings: SalesforceSettings,
        *,
        throttle_default: float = 60.0,
        timeout: float = 10.0,
        event_hooks: dict[str, list[Any]] | None = None,
        on_usage: Usage | None = None,
    ) -> None:
        self._login_url = base_url.rstrip("/")
        self._settings = settings
        super().__init__(
            throttle_default=throttle_default,
            timeout=timeout,
            event_hooks=event_hooks,
            on_usage=on_usage,
            headers={"Accept": "application/json"},
        )
        self._token: str | None = None
        self._instance_url: str | None = None
        self._owners: FetchedOnce[str, str | None] = FetchedOnce()

    def record_url(self, case_id: str) -> str:
        return f"{self._instance_url or self._login_url}/lightning/r/Case/{case_id}/view"

    def usage(self, response: httpx.Response) -> tuple[int, int, float] | None:
        match = API_USAGE.search(response.headers.get("sforce-limit-info", ""))
        if match is None:
            return None
        used, limit = int(match[1]), int(match[2])
        return limit - used, limit, DAY

    @property
    def _assign(self) -> dict[str, str]:
        return {"Sforce-Auto-Assign": self._settings.auto_assign}

    def create_record(self, record: NewRecord, *, follow_up_of: str | None = None) -> RecordRef:
        s = self._settings
        fields = {
            "Subject": record.title[:255],
            "Description": record.description,
            s.end_user_field: record.end_user_id,
            s.leaf_queue_field: record.leaf_queue,
            s.session_type_field: record.session_type,
            "ContactId": self._contact(record),
            "ParentId": follow_up_of,
        }
        body = {name: value for name, value in fields.items() if name and value is not None}
        owner = self._owner(record)
        if owner:
            body["OwnerId"] = owner
        path = f"/sobjects/Case/{s.session_id_field}/{quote(record.external_id, safe='')}"
        response = self._api("upsert", "PATCH", path, json=body, headers=self._assign)
        if response.status_code == 300:
            return self._oldest(response, record.external_id)
        if response.status_code == 204 or not response.content:
            found = self.find_by_external_id(record.external_id)  # older APIs answer 204
            if found is None:
                raise CrmRejected(self.name, "upsert", "upsert answered but no case found")
            return found
        answer = response.json()
        log.info(
            "salesforce case %s for %s (created=%s)",
            answer["id"],
            record.external_id,
            answer.get("created"),
        )
        return RecordRef(answer["id"], self.record_url(answer["id"]))

    def _oldest(self, response: httpx.Response, external_id: str) -> RecordRef:
        """300 Multiple Choices: several cases share the key; nothing was written."""
        ids = sorted(_ids_of(response.json()))
        if not ids:
            raise CrmRejected(self.name, "upsert", "300 without choices", 300)
        log.error("salesforce: %d cases share %s; using %s", len(ids), external_id, ids[0])
        return RecordRef(ids[0], self.record_url(ids[0]))

    def _contact(self, record: NewRecord) -> str | None:
        """The end user's Contact, upserted on its External ID (one per caller, races too)."""
        if not record.end_user_id:
            return None
        field = self._settings.contact_external_id_field
        path = f"/sobjects/Contact/{field}/{quote(record.end_user_id, safe='')}"
        body: dict[str, Any] = {"LastName": (record.end_user_name or record.end_user_id)[:80]}
        if record.end_user_phone:
            body["Phone"] = record.end_user_phone
        if record.end_user_email:
            body["Email"] = record.end_user_email
        try:
            response = self._api("contact", "PATCH", path, json=body)
        except CrmRejected as exc:
            if "DUPLICATE_VALUE" not in exc.detail:
                raise
            response = self._api("contact", "PATCH", path, json=body)  # the racer made it
        if response.status_code == 300:
            ids = sorted(_ids_of(response.json()))
            return ids[0] if ids else None
        if response.status_code == 204 or not response.content:
            got = self._api("contact", "GET", path, params={"fields": "Id"}).json()
            return str(got["Id"])
        return str(response.json()["id"])

    def _owner(self, record: NewRecord) -> str | None:
        who = record.assignee
        if who.is_admin:
            return who.user_id
        if not who.email:
            return None
        email = who.email
        return self._owners.get(email, lambda: self._find_owner(email))

    def _find_owner(self, email: str) -> str | None:
        soql = f"SELECT Id FROM User WHERE Email = '{_soql(email)}' AND IsActive = true LIMIT 1"
        rows = self._api("owner", "GET", "/query", params={"q": soql}).json().get("records", [])
        return str(rows[0]["Id"]) if rows else None

    def find_by_external_id(self, external_id: str) -> RecordRef | None:
        path = f"/sobjects/Case/{self._settings.session_id_field}/{quote(external_id, safe='')}"
        try:
            response = self._api("find", "GET", path, params={"fields": "Id"})
        except CrmRejected as exc:
            if exc.status == 404:
                return None
            raise
        if response.status_code == 300:
            return self._oldest(response, external_id)
        case = response.json()
        return RecordRef(case["Id"], self.record_url(case["Id"]))

    def get_record(self, record_id: str) -> ExistingRecord | None:
        s = self._settings
        wanted = ["Id", "Status", "IsClosed", "CreatedDate", "ClosedDate"]
        wanted += [f for f in (s.end_user_field, s.leaf_queue_field) if f]
        try:
            case = self._api(
                "read", "GET", f"/sobjects/Case/{record_id}", params={"fields": ",".join(wanted)}
            ).json()
        except CrmRejected as exc:
            if exc.status == 404:
                return None
            raise
        return ExistingRecord(
            id=case["Id"],
            url=self.record_url(case["Id"]),
            is_open=not case["IsClosed"],
            created_at=created_time(case["CreatedDate"]),
            closed_at=parse_time(case.get("ClosedDate")),
            end_user_id=case.get(s.end_user_field),
            leaf_queue=case.get(s.leaf_queue_field),
            status=case.get("Status"),
        )

    def reopen(self, record_id: str) -> None:
        status = self._settings.reopen_status
        self._api(
            "reopen",
            "PATCH",
            f"/sobjects/Case/{record_id}",
            json={"Status": status},
            headers=self._assign,
        )
        log.info("salesforce case %s reopened (%s)", record_id, status)

    def add_note(self, record_id: str, body: str) -> None:
        comment = {"ParentId": record_id, "CommentBody": body[:4000], "IsPublished": False}
        self._api("note", "POST", "/sobjects/CaseComment", json=comment)

    def notes(self, record_id: str) -> list[str]:
        soql = f"SELECT Id, CommentBody FROM CaseComment WHERE ParentId = '{_soql(record_id)}'"
        rows = self._api("notes", "GET", "/query", params={"q": soql}).json().get("records", [])
        return [row.get("CommentBody") or "" for row in rows]

    def find_file(self, record_id: str, marker: str) -> str | None:
        soql = (
            "SELECT Id, ContentDocumentId FROM ContentVersion "
            f"WHERE Description = '{_soql(marker)}'"
        )
        rows = self._api("files", "GET", "/query", params={"q": soql}).json().get("records", [])
        return rows[0]["ContentDocumentId"] if rows else None

    def attach_file(
        self,
        record_id: str,
        filename: str,
        content: bytes,
        content_type: str,
        replaces: str | None = None,
        marker: str = "",
    ) -> str:
        version: dict[str, Any] = {
            "Title": filename.rsplit(".", 1)[0],
            "PathOnClient": filename,
            "VersionData": base64.b64encode(content).decode("ascii"),
        }
        if marker:
            version["Description"] = marker
        if replaces:
            version |= {"ContentDocumentId": replaces, "ReasonForChange": "Session file rewritten"}
        else:
            version["FirstPublishLocationId"] = record_id
        created = self._api("attach", "POST", "/sobjects/ContentVersion", json=version).json()
        document_id = (
            replaces
            or self._api(
                "attach",
                "GET",
                f"/sobjects/ContentVersion/{created['id']}",
                params={"fields": "ContentDocumentId"},
            ).json()["ContentDocumentId"]
        )
        log.info("salesforce case %s: file %s version %s", record_id, document_id, created["id"])
        return document_id

    def _authenticate(self) -> None:
        s = self._settings
        answer = send(
            self._http,
            self.name,
            "token",
            "POST",
            f"{self._login_url}/services/oauth2/token",
            throttle_default=self._throttle_default,
            data={
                "grant_type": "client_credentials",
                "client_id": s.client_id,
                "client_secret": s.client_secret.get_secret_value(),
            },
        ).json()
        self._token = answer["access_token"]
        self._instance_url = answer.get("instance_url", self._login_url).rstrip("/")

    def _api(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        renew: bool = True,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        if self._token is None:
            self._authenticate()
        url = f"{self._instance_url}/services/data/{self._settings.api_version}{path}"
        response = send(
            self._http,
            self.name,
            operation,
            method,
            url,
            throttle_default=self._throttle_default,
            checked=False,
            headers={"Authorization": f"Bearer {self._token}", **(headers or {})},
            **kwargs,
        )
        if response.status_code == 403 and "REQUEST_LIMIT_EXCEEDED" in _error_codes(response):
            raise CrmThrottled(
                self.name, operation, self._throttle_default, "REQUEST_LIMIT_EXCEEDED", 403
            )
        if response.status_code == 401 and renew:
            self._token = None  # INVALID_SESSION_ID: the token expired; get another once
            return self._api(operation, method, path, renew=False, headers=headers, **kwargs)
        if response.status_code == 300:
            return response  # Multiple Choices: the caller picks
        check(response, self.name, operation, self._throttle_default)
        return response


def _ids_of(choices: Any) -> list[str]:
    """Record ids in a 300 answer: a list of URLs (``.../Case/500...``) or of ids."""
    out = []
    for choice in choices if isinstance(choices, list) else []:
        text = choice.get("url", "") if isinstance(choice, dict) else str(choice)
        out.append(text.rstrip("/").rsplit("/", 1)[-1])
    return [value for value in out if value]


def _error_codes(response: httpx.Response) -> set[str]:
    try:
        errors = response.json()
    except ValueError:
        return set()
    if isinstance(errors, dict):
        errors = errors.get("errors") or [errors]
    return {e.get("errorCode", "") for e in errors if isinstance(e, dict)}


def _soql(value: str) -> str:
    """A value inside a SOQL string literal."""
    return value.replace("\\", "\\\\").replace("'", "\\'")
