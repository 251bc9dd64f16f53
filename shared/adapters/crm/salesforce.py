"""Salesforce Cases (REST API).

- Auth: OAuth 2.0 client credentials at ``{base_url}/services/oauth2/token``;
  the answer names the instance to call. An expired token (401) is renewed once.
- Create: upsert ``PATCH /sobjects/Case/{ExternalIdField}/{key}``, Salesforce's
  own idempotency tool: a replay updates the same case instead of adding one.
  ``Status`` is never sent on create, so a replay cannot undo an agent's change.
- Case has no tags: the session type goes to a custom field.
- Same end user and leaf queue: SOQL on two custom fields; open = ``IsClosed=false``.
- The file: a ``ContentVersion`` published to the case (``FirstPublishLocationId``);
  a rewrite adds a version to the same ``ContentDocument``.
- Throttling: 403 ``REQUEST_LIMIT_EXCEEDED`` (no Retry-After), not 429.
"""

from __future__ import annotations

import base64
import logging
from typing import Any
from urllib.parse import quote

import httpx

from shared.adapters.crm.base import HttpCrm, RecordRef, check, parse_time, send
from shared.crm.errors import CrmRejected, CrmThrottled
from shared.crm.rules import ExistingRecord, NewRecord
from shared.crm.settings import SalesforceSettings

log = logging.getLogger(__name__)


class SalesforceClient(HttpCrm):
    name = "salesforce"

    def __init__(
        self,
        base_url: str,
        settings: SalesforceSettings,
        *,
        throttle_default: float = 60.0,
        timeout: float = 10.0,
        event_hooks: dict[str, list] | None = None,
    ) -> None:
        self._login_url = base_url.rstrip("/")
        self._settings = settings
        super().__init__(
            throttle_default=throttle_default,
            timeout=timeout,
            event_hooks=event_hooks,
            headers={"Accept": "application/json"},
        )
        self._token: str | None = None
        self._instance_url: str | None = None

    def record_url(self, case_id: str) -> str:
        return f"{self._instance_url or self._login_url}/lightning/r/Case/{case_id}/view"

    def create_record(self, record: NewRecord) -> RecordRef:
        s = self._settings
        fields = {
            "Subject": record.title[:255],
            "Description": record.description,
            s.end_user_field: record.end_user_id,
            s.leaf_queue_field: record.leaf_queue,
            s.session_type_field: record.session_type,
        }
        body = {name: value for name, value in fields.items() if name and value is not None}
        if record.assignee.is_admin and record.assignee.user_id:
            body["OwnerId"] = record.assignee.user_id
        path = f"/sobjects/Case/{s.session_id_field}/{quote(record.external_id, safe='')}"
        response = self._api("upsert", "PATCH", path, json=body)
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

    def find_by_external_id(self, external_id: str) -> RecordRef | None:
        path = f"/sobjects/Case/{self._settings.session_id_field}/{quote(external_id, safe='')}"
        try:
            case = self._api("find", "GET", path, params={"fields": "Id"}).json()
        except CrmRejected as exc:
            if exc.status == 404:
                return None
            raise
        return RecordRef(case["Id"], self.record_url(case["Id"]))

    def find_recent_records(self, end_user_id: str, leaf_queue: str) -> list[ExistingRecord]:
        s = self._settings
        soql = (
            "SELECT Id, Status, IsClosed, CreatedDate, ClosedDate FROM Case "
            f"WHERE {s.end_user_field} = '{_soql(end_user_id)}' "
            f"AND {s.leaf_queue_field} = '{_soql(leaf_queue)}' "
            "ORDER BY CreatedDate DESC LIMIT 50"
        )
        rows = self._api("query", "GET", "/query", params={"q": soql}).json().get("records", [])
        return [
            ExistingRecord(
                id=row["Id"],
                url=self.record_url(row["Id"]),
                is_open=not row["IsClosed"],
                created_at=parse_time(row["CreatedDate"]),
                closed_at=parse_time(row.get("ClosedDate")),
                end_user_id=end_user_id,
                leaf_queue=leaf_queue,
            )
            for row in rows
        ]

    def reopen(self, record_id: str) -> None:
        status = self._settings.reopen_status
        self._api("reopen", "PATCH", f"/sobjects/Case/{record_id}", json={"Status": status})
        log.info("salesforce case %s reopened (%s)", record_id, status)

    def attach_file(
        self,
        record_id: str,
        filename: str,
        content: bytes,
        content_type: str,
        replaces: str | None = None,
    ) -> str:
        version: dict[str, Any] = {
            "Title": filename.rsplit(".", 1)[0],
            "PathOnClient": filename,
            "VersionData": base64.b64encode(content).decode("ascii"),
        }
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
        self, operation: str, method: str, path: str, *, renew: bool = True, **kwargs: Any
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
            headers={"Authorization": f"Bearer {self._token}"},
            **kwargs,
        )
        if response.status_code == 403 and "REQUEST_LIMIT_EXCEEDED" in _error_codes(response):
            raise CrmThrottled(
                self.name, operation, self._throttle_default, "REQUEST_LIMIT_EXCEEDED", 403
            )
        if response.status_code == 401 and renew:
            self._token = None  # INVALID_SESSION_ID: the token expired; get another once
            return self._api(operation, method, path, renew=False, **kwargs)
        check(response, self.name, operation, self._throttle_default)
        return response


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
